/**
 * Which failures another attempt may fix. The job manager reports `retryable` to the worker, which re-dispatches
 * (possibly to another runner) only then: out-of-memory and transient I/O are worth another try, a request the
 * pipeline refuses or artifacts that do not fit are not.
 */
import type { FailureCode } from "@accdiff/shared";
import { PermanentHttpError } from "../server/http";

const OUT_OF_MEMORY =
  /out of memory|bad_alloc|CUDA_ERROR_OUT_OF_MEMORY|Failed to allocate memory|cudaErrorMemoryAllocation/i;

/** An error with the runner's verdict: whether to retry, and the stable code the job view shows (shared failures.ts). */
export type Retryable = Error & { retryable?: boolean; failureCode?: FailureCode };

/** Names the failure's code (when it has none yet) and returns it. */
export function withFailureCode(e: Retryable, code: FailureCode): Retryable {
  if (e.failureCode === undefined) e.failureCode = code;
  return e;
}

/** Marks an error retryable (when it is not already marked) and returns it. */
export function markRetryable(e: unknown, retryable: boolean): Retryable {
  const err: Retryable = e instanceof Error ? e : new Error(String(e));
  if (err.retryable === undefined) err.retryable = retryable;
  return err;
}

/** Out of memory: another runner, or this one after a restart, may well have room. */
export function isOutOfMemory(e: unknown): boolean {
  return e instanceof Error && OUT_OF_MEMORY.test(e.message);
}

/** A download failed: permanent HTTP answers (404, 403 of an expired link) are not retryable, the rest is. */
export function downloadFailure(what: string, e: unknown): Retryable {
  return withFailureCode(transferFailure(`could not download ${what}`, e), "input_unavailable");
}

/**
 * An artifact upload failed: a permanent HTTP answer (410 superseded attempt, 413 too large) is not retryable; a
 * worker that was unreachable or kept answering 5xx through every retry may well take it from the next attempt.
 */
export function uploadFailure(key: string, e: unknown): Retryable {
  return withFailureCode(transferFailure(`could not upload ${key}`, e), "upload_failed");
}

function transferFailure(what: string, e: unknown): Retryable {
  const msg = e instanceof Error ? e.message : String(e);
  const err: Retryable = new Error(`${what}: ${msg}`);
  err.retryable = !(e instanceof PermanentHttpError);
  return err;
}
