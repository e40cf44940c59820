/**
 * The `runner` backend: a signed RunnerJob POSTed to `<runner>/v1/jobs` of a configured pool. A runner that answers
 * 429, 5xx, or not at all (timeout, connection refused) is skipped for the next one; the round starts at a different
 * runner for each attempt and try, so a re-dispatch after a silent runner goes elsewhere first.
 */
import { type RunnerJob, signRequest } from "@accdiff/shared";
import type { DispatchResult } from "./types";

export const RUNNER_TIMEOUT_MS = 10_000;

function retryAfterMs(res: Response): number | null {
  const v = res.headers.get("retry-after");
  if (!v) return null;
  const n = Number(v);
  if (Number.isFinite(n) && n >= 0) return Math.min(n, 3600) * 1000;
  const t = Date.parse(v);
  return Number.isFinite(t) ? Math.max(0, t - Date.now()) : null;
}

async function post(url: string, body: string, secret: string, timeoutMs: number): Promise<Response> {
  const headers = await signRequest(secret, { method: "POST", path: new URL(url).pathname, body });
  return fetch(url, {
    method: "POST",
    body,
    headers: { ...headers, "content-type": "application/json" },
    signal: AbortSignal.timeout(timeoutMs),
  });
}

/** One round over the pool, starting at `start`. */
export async function dispatchToPool(
  runners: string[],
  secret: string,
  job: RunnerJob,
  start: number,
  timeoutMs = RUNNER_TIMEOUT_MS,
): Promise<DispatchResult> {
  if (runners.length === 0) return { ok: false, retryAfterMs: null, reason: "no runners configured", permanent: true };
  const body = JSON.stringify(job);
  const reasons: string[] = [];
  let wait: number | null = null;
  for (let i = 0; i < runners.length; i++) {
    const runner = runners[(start + i) % runners.length];
    const url = `${runner}/v1/jobs`;
    try {
      const res = await post(url, body, secret, timeoutMs);
      await res.body?.cancel();
      if (res.ok) return { ok: true, target: runner };
      reasons.push(`${runner}: HTTP ${res.status}`);
      const ra = retryAfterMs(res);
      if (ra !== null) wait = wait === null ? ra : Math.min(wait, ra);
    } catch (err) {
      reasons.push(`${runner}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return { ok: false, retryAfterMs: wait, reason: reasons.join("; ") };
}

/** Asks a runner to stop a job (best effort: the job's outcome no longer depends on it). */
export async function cancelOnRunner(runner: string, secret: string, jobId: string): Promise<void> {
  try {
    const url = `${runner}/v1/jobs/${encodeURIComponent(jobId)}/cancel`;
    const res = await post(url, "", secret, RUNNER_TIMEOUT_MS);
    await res.body?.cancel();
  } catch {
    // The lease and attempt numbers make a runner that never hears this harmless.
  }
}
