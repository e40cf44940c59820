/**
 * `Prefer: wait=N` (RFC 7240) on POST /v1/images: hold the answer up to N seconds (at most 60) for the job to end,
 * then answer 200 with the finished job, or the 202 with its current state as without the preference.
 */

import { isFinished, type JobState } from "../domain/job";
import type { JobApi } from "./client";

export const MAX_WAIT_SECONDS = 60;

/** Seconds the client asked to wait (clamped to MAX_WAIT_SECONDS), or null without a wait preference. */
export function preferredWait(header: string | undefined): number | null {
  if (!header) return null;
  for (const part of header.split(",")) {
    const m = /^\s*wait\s*=\s*"?(\d{1,6})"?\s*(;.*)?$/i.exec(part);
    if (m) return Math.min(Number(m[1]), MAX_WAIT_SECONDS);
  }
  return null;
}

/** The job once it has ended, or its state when `seconds` have passed. */
export async function waitForEnd(stub: JobApi, seconds: number): Promise<JobState | null> {
  const deadline = Date.now() + seconds * 1000;
  let s = await stub.get();
  while (s && !isFinished(s)) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    s = (await stub.waitForChange(s.version, left)) ?? s;
  }
  return s;
}
