/**
 * The two dispatch backends behind one interface, chosen per job (the job records the backend configured when it was
 * accepted, so a configuration change does not strand jobs in flight).
 */
import type { RunnerJob } from "@accdiff/shared";
import { configOf, type Env, runnerUrls } from "../env";
import { cancelPrediction, createPrediction, type ReplicateConfig } from "./replicate";
import { cancelOnRunner, dispatchToPool, type PoolOptions } from "./runnerPool";
import type { DispatchResult } from "./types";

export type Backend = "runner" | "replicate";

export function replicateConfigOf(env: Env): ReplicateConfig {
  return { token: env.REPLICATE_API_TOKEN ?? "", model: env.REPLICATE_MODEL ?? "", baseUrl: env.REPLICATE_API_BASE };
}

export function replicateWebhookUrl(base: string, jobId: string, attempt: number): string {
  return `${base}/internal/replicate/${jobId}?attempt=${attempt}`;
}

/**
 * Sends one attempt out. `tries` (failed rounds so far) rotates the runner the round starts with; `abandon` moves the
 * job to a new attempt when a runner times out (runner backend; see runnerPool.ts).
 */
export function dispatchAttempt(
  env: Env,
  backend: Backend,
  job: RunnerJob,
  base: string,
  tries: number,
  abandon?: PoolOptions["abandon"],
): Promise<DispatchResult> {
  if (backend === "replicate") {
    return createPrediction(replicateConfigOf(env), job, replicateWebhookUrl(base, job.jobId, job.attempt));
  }
  const timeoutMs = configOf(env).dispatchTimeoutMs;
  return dispatchToPool(runnerUrls(env), env.RUNNER_SECRET, job, job.attempt - 1 + tries, { timeoutMs, abandon });
}

/** Asks the backend to stop one attempt (best effort; a Replicate prediction id is one attempt's already). */
export function cancelAttempt(
  env: Env,
  backend: Backend,
  target: string,
  jobId: string,
  attempt: number,
): Promise<void> {
  if (backend === "replicate") return cancelPrediction(replicateConfigOf(env), target);
  return cancelOnRunner(target, env.RUNNER_SECRET, jobId, attempt, configOf(env).dispatchTimeoutMs);
}
