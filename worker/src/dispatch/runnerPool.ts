/**
 * The `runner` backend: a signed RunnerJob POSTed to `<runner>/v1/jobs` of a configured pool. A runner that answers
 * 429 or 5xx, or cannot be reached, is skipped for the next one; the round starts at a different runner for each
 * attempt and try, so a re-dispatch after a silent runner goes elsewhere first.
 *
 * A runner that does not answer in time may have taken the job all the same (the answer, not the request, was lost).
 * Its attempt is then abandoned before anything else is sent: the caller moves the job to a new attempt number (so
 * the events of the first runner, which carry the old one, are refused as superseded), the first runner is told to
 * cancel, and only then does the next runner get the job, under the new attempt. One attempt number is therefore
 * only ever in the hands of one runner.
 */
import { type RunnerJob, runnerCancelPath, signRequest } from "@accdiff/shared";
import type { DispatchResult } from "./types";

export const RUNNER_TIMEOUT_MS = 10_000;

export interface PoolOptions {
  timeoutMs?: number;
  /**
   * `runner` did not answer `job` in time: abandon that attempt and return the job of the next one (a new attempt
   * number), or null when there is none (the job ended meanwhile, or its attempts are used up).
   */
  abandon?: (runner: string, job: RunnerJob, reason: string) => Promise<RunnerJob | null>;
}

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

/** The request may have been delivered and its answer lost: a timeout (not a refused connection). */
function mayHaveArrived(err: unknown): boolean {
  return err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
}

/** One round over the pool, starting at `start`. */
export async function dispatchToPool(
  runners: string[],
  secret: string,
  first: RunnerJob,
  start: number,
  opts: PoolOptions = {},
): Promise<DispatchResult> {
  if (runners.length === 0) return { ok: false, retryAfterMs: null, reason: "no runners configured", permanent: true };
  const timeoutMs = opts.timeoutMs ?? RUNNER_TIMEOUT_MS;
  let job = first;
  const reasons: string[] = [];
  let wait: number | null = null;
  for (let i = 0; i < runners.length; i++) {
    const runner = runners[(start + i) % runners.length];
    try {
      const res = await post(`${runner}/v1/jobs`, JSON.stringify(job), secret, timeoutMs);
      await res.body?.cancel();
      if (res.ok) return { ok: true, target: runner, attempt: job.attempt };
      reasons.push(`${runner}: HTTP ${res.status}`);
      const ra = retryAfterMs(res);
      if (ra !== null) wait = wait === null ? ra : Math.min(wait, ra);
    } catch (err) {
      const reason = `${runner}: ${err instanceof Error ? err.message : String(err)}`;
      reasons.push(reason);
      if (opts.abandon && mayHaveArrived(err)) {
        const next = await opts.abandon(runner, job, `dispatch to ${reason} (timed out; it may have taken the job)`);
        // Awaited: a cancel that overtook a later dispatch to the same runner would stop the wrong attempt.
        await cancelOnRunner(runner, secret, job.jobId, job.attempt, timeoutMs);
        if (!next)
          return { ok: false, retryAfterMs: null, reason: reasons.join("; "), attempt: job.attempt, ended: true };
        job = next;
      }
    }
  }
  return { ok: false, retryAfterMs: wait, reason: reasons.join("; "), attempt: job.attempt };
}

/**
 * Asks a runner to stop one attempt of a job (best effort: the job's outcome no longer depends on it). The cancel names
 * the attempt, and a runner refuses one for an attempt it does not hold: however late it arrives, it cannot stop the
 * attempt that replaced this one on the same runner.
 */
export async function cancelOnRunner(
  runner: string,
  secret: string,
  jobId: string,
  attempt: number,
  timeoutMs = RUNNER_TIMEOUT_MS,
): Promise<void> {
  try {
    const url = `${runner}${runnerCancelPath(jobId, attempt)}`;
    const res = await post(url, "", secret, timeoutMs);
    await res.body?.cancel();
  } catch {
    // The lease and attempt numbers make a runner that never hears this harmless.
  }
}
