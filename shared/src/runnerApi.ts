/**
 * The runner's attempt-scoped API. Every operation the worker asks of a runner about a job names the attempt it is for
 * (`/v1/jobs/:id/attempts/:attempt/...`), and a runner refuses one for an attempt it does not hold: a cancel meant for
 * a dead attempt that reaches a restarted runner late can never stop the attempt that replaced it.
 *
 *   GET  /v1/jobs/:id/attempts/:attempt          the attempt's status (the worker's liveness probe)
 *   POST /v1/jobs/:id/attempts/:attempt/cancel   stop that attempt
 *
 * Both answer 404 with the `unknown-attempt` problem type when the runner does not hold that attempt (it never got it,
 * it restarted without it, or it holds another attempt of the job): for a probe, that is proof the attempt is not
 * running there.
 */
import { z } from "zod";
import { JOB_STATUSES } from "./protocol";

export function runnerAttemptPath(jobId: string, attempt: number): string {
  return `/v1/jobs/${encodeURIComponent(jobId)}/attempts/${attempt}`;
}

export function runnerCancelPath(jobId: string, attempt: number): string {
  return `${runnerAttemptPath(jobId, attempt)}/cancel`;
}

/** problem+json `type` of "this runner does not hold that attempt". */
export const UNKNOWN_ATTEMPT_TYPE = "https://accdiff.dev/problems/unknown-attempt";

/** What a probe answers for an attempt the runner holds (its journal record). */
export const AttemptStatusSchema = z.object({
  jobId: z.string(),
  attempt: z.number().int().min(1),
  status: z.enum(JOB_STATUSES),
  reason: z.string().optional(),
});
export type AttemptStatus = z.infer<typeof AttemptStatusSchema>;

/** A runner holding the attempt in this state is working on it (or about to). */
export function attemptInHand(status: AttemptStatus["status"]): boolean {
  return status === "queued" || status === "running";
}
