/** Signed HTTP to the worker, with retries and exponential backoff (events, uploads, downloads). */
import { signRequest } from "@accdiff/shared";
import type { Logger } from "./log";

export interface RetryPolicy {
  attempts: number;
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 8, baseMs: 250, maxMs: 15_000 };

export interface SignedHttp {
  secret: string;
  fetch: typeof fetch;
  retry: RetryPolicy;
  log: Logger;
}

/** Errors that another try cannot fix (4xx other than 408/409/425/429). */
export class PermanentHttpError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

function retryable(status: number): boolean {
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
 * Each try is signed anew (fresh timestamp and nonce), so a retry is never refused as a replay.
 */
export async function signedFetch(
  http: SignedHttp,
  url: string,
  init: { method: string; body?: Uint8Array | string; contentType?: string; stop?: AbortSignal },
): Promise<Response> {
  const u = new URL(url);
  let lastError = "";
  for (let attempt = 1; attempt <= http.retry.attempts; attempt++) {
    const headers = await signRequest(http.secret, {
      method: init.method,
      path: u.pathname + u.search,
      body: init.body,
    });
    if (init.contentType) headers["content-type"] = init.contentType;
    try {
      const res = await http.fetch(url, {
        method: init.method,
        headers, // Uint8Array and string bodies are both valid fetch bodies; the cast only satisfies the DOM-less typings.
        body: init.body as string | undefined,
      });
      if (res.ok) return res;
      const text = await res.text().catch(() => "");
      lastError = `${init.method} ${u.pathname} -> ${res.status} ${text.slice(0, 200)}`;
      if (!retryable(res.status)) throw new PermanentHttpError(lastError, res.status);
    } catch (e) {
      if (e instanceof PermanentHttpError) throw e;
      lastError = e instanceof Error ? e.message : String(e);
    }
    if (attempt === http.retry.attempts || init.stop?.aborted) break;
    const delay = Math.min(http.retry.maxMs, http.retry.baseMs * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
    http.log.warn("retrying request", { url: u.pathname, attempt, delayMs: Math.round(delay), error: lastError });
    await sleep(delay, init.stop);
  }
  throw new Error(`giving up after ${http.retry.attempts} tries: ${lastError}`);
}
