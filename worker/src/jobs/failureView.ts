/**
 * The job view's `error` and `debug` fields. `error` is what a client shows and switches on: a stable code (shared
 * failures.ts), its user-facing sentence and whether asking again may help. The internal text (the runner's
 * exception message, which may name paths or model files) goes only to `debug` and to the logs.
 */
import { FAILURE_MESSAGES, type FailureCode, failureCodeOf } from "@accdiff/shared";
import type { JobState } from "../domain/job";

export interface FailureView {
  code: FailureCode;
  message: string;
  retryable: boolean;
}

export function failureView(error: JobState["error"]): FailureView | null {
  if (!error) return null;
  // Jobs stored before codes existed have only the text: classify it the way the runner would have.
  const code = error.code ?? failureCodeOf(error.reason);
  return { code, message: FAILURE_MESSAGES[code], retryable: error.retryable };
}

export function debugView(error: JobState["error"]): { reason: string } | null {
  return error ? { reason: error.reason } : null;
}
