/** Reaching a job's Durable Object from its public id (the object id's hex form). */
import type { RunnerEvent } from "@accdiff/shared";
import type { Prediction } from "../dispatch/replicate";
import type { JobState } from "../domain/job";
import type { CreateInit, CreateOutcome } from "./create";
import type { EventResult, JobDO, UploadPermission } from "./JobDO";
import type { WebhookDelivery } from "./webhookOutbox";

/**
 * The JobDO's RPC surface. Declared by hand because the generated RPC types collapse the state's open records
 * (`Record<string, unknown>`) to `never`; the methods below are exactly JobDO's public ones.
 */
export interface JobApi {
  create(init: CreateInit): Promise<CreateOutcome>;
  get(): Promise<JobState | null>;
  waitForChange(version: number, timeoutMs: number): Promise<JobState | null>;
  uploadOpen(attempt: number): Promise<Exclude<UploadPermission, "replayed">>;
  authorizeUpload(attempt: number, nonce: string): Promise<UploadPermission>;
  runnerEvent(event: RunnerEvent, nonce: string): Promise<{ result: EventResult; status?: JobState["status"] }>;
  cancel(): Promise<JobState | null>;
  webhookDeliveries(): Promise<WebhookDelivery[]>;
  replicateUpdate(
    attempt: number,
    webhookId: string | null,
    prediction: Prediction,
  ): Promise<{ result: EventResult; status?: JobState["status"] }>;
}

const JOB_ID = /^[0-9a-f]{64}$/;

/** The stub of job `id`, or null when `id` cannot be one of this namespace's ids (nothing is created then). */
export function jobStub(ns: DurableObjectNamespace, id: string): JobApi | null {
  if (!JOB_ID.test(id)) return null;
  const jobs = ns as unknown as DurableObjectNamespace<JobDO>;
  try {
    return jobs.get(jobs.idFromString(id)) as unknown as JobApi;
  } catch {
    return null;
  }
}

/** A new job's id: derived from (account, Idempotency-Key) so retries meet the same object, else unique. */
export function newJobId(ns: DurableObjectNamespace, accountId: string, idempotencyKey: string | null): string {
  const id = idempotencyKey ? ns.idFromName(`idem:${accountId}:${idempotencyKey}`) : ns.newUniqueId();
  return id.toString();
}
