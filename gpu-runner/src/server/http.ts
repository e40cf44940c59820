/** Signed HTTP to the worker, with retries, exponential backoff and a deadline per try (events, uploads, downloads). */
import { signRequest } from "@accdiff/shared";
import type { Logger } from "./log";

export interface RetryPolicy {
  attempts: number;
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 8, baseMs: 250, maxMs: 15_000 };

/** A worker that has not answered a small request in this long is presumed hung: the try is abandoned and retried. */
export const DEFAULT_TRY_TIMEOUT_MS = 30_000;

export interface SignedHttp {
  secret: string;
  fetch: typeof fetch;
  retry: RetryPolicy;
  log: Logger;
  /** Per-try deadline of a request without a size-dependent one (default DEFAULT_TRY_TIMEOUT_MS). */
  timeoutMs?: number;
}

/**
 * The per-try deadline of a transfer of `bytes` (an upload, or a download of at most that much): the base deadline
 * plus 1 ms per kB, i.e. the body may travel as slowly as 1 MB/s (a 4096x4096 PNG of ~30 MB gets a minute), so a
 * large artifact is not cut off on a slow link.
 */
export function transferTimeoutMs(http: SignedHttp, bytes: number): number {
  return (http.timeoutMs ?? DEFAULT_TRY_TIMEOUT_MS) + Math.ceil(bytes / 1000);
}

/**
 * Errors that another try cannot fix: every 4xx other than 408, 425 and 429. In particular the worker's 410 (this
 * attempt was superseded, or the job has ended) and 409 (the worker never dispatched this attempt: the attempt number
 * only grows when the worker dispatches, before the runner gets the job, so no later try can make it known).
 */
export class PermanentHttpError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export function retryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 425 || status === 429;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    });
  });

/**
 * Sends a signed request, retrying transient failures with jittered exponential backoff.
 * Each try is signed anew (fresh timestamp and nonce), so a retry is never refused as a replay. Each try has a
 * deadline (`timeoutMs`), so a worker that accepts the connection and never answers cannot stall a job's event
 * chain; `stop` (the job's abort signal) ends an in-flight try at once, so a cancel is not held up by an upload.
 * The deadline also covers reading the response body (a download's bytes).
 */
export async function signedFetch(
  http: SignedHttp,
  url: string,
  init: { method: string; body?: Uint8Array | string; contentType?: string; stop?: AbortSignal; timeoutMs?: number },
): Promise<Response> {
  const u = new URL(url);
  const timeoutMs = init.timeoutMs ?? http.timeoutMs ?? DEFAULT_TRY_TIMEOUT_MS;
  let lastError = "";
  for (let attempt = 1; attempt <= http.retry.attempts; attempt++) {
    if (init.stop?.aborted) break;
    const headers = await signRequest(http.secret, {
      method: init.method,
      path: u.pathname + u.search,
      body: init.body,
    });
    if (init.contentType) headers["content-type"] = init.contentType;
    const deadline = AbortSignal.timeout(timeoutMs);
    try {
      const res = await http.fetch(url, {
        method: init.method,
        headers, // Uint8Array and string bodies are both valid fetch bodies; the cast only satisfies the DOM-less typings.
        body: init.body as string | undefined,
        signal: init.stop ? AbortSignal.any([init.stop, deadline]) : deadline,
      });
      if (res.ok) return res;
      const text = await res.text().catch(() => "");
      lastError = `${init.method} ${u.pathname} -> ${res.status} ${text.slice(0, 200)}`;
      if (!retryableStatus(res.status)) throw new PermanentHttpError(lastError, res.status);
    } catch (e) {
      if (e instanceof PermanentHttpError) throw e;
      lastError = deadline.aborted
        ? `${init.method} ${u.pathname}: no answer in ${timeoutMs} ms`
        : e instanceof Error
          ? e.message
          : String(e);
    }
    if (attempt === http.retry.attempts || init.stop?.aborted) break;
    const delay = Math.min(http.retry.maxMs, http.retry.baseMs * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
    http.log.warn("retrying request", { url: u.pathname, attempt, delayMs: Math.round(delay), error: lastError });
    await sleep(delay, init.stop);
  }
  if (init.stop?.aborted) throw new Error(`${init.method} ${u.pathname} stopped: ${String(init.stop.reason)}`);
  throw new Error(`giving up after ${http.retry.attempts} tries: ${lastError}`);
}
