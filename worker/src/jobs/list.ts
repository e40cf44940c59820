/**
 * GET /v1/images: the calling account's jobs, newest first, one page at a time. The account's holds are its job
 * index (accounts/store.ts jobsBefore); the cursor is opaque to clients (the last job's acceptance time and id).
 */
import { accountStub } from "../accounts/client";
import type { JobState } from "../domain/job";
import type { Env } from "../env";
import { jobStub } from "./client";

export const LIST_DEFAULT = 20;
export const LIST_MAX = 100;

export interface Cursor {
  at: number;
  jobId: string;
}

export function encodeCursor(c: Cursor): string {
  return btoa(`${c.at}.${c.jobId}`).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The cursor a page handed out, or null when `raw` is not one. */
export function decodeCursor(raw: string): Cursor | null {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(raw)) return null;
  let text: string;
  try {
    text = atob(raw.replace(/-/g, "+").replace(/_/g, "/"));
  } catch {
    return null;
  }
  const m = /^(\d{1,15})\.([A-Za-z0-9_-]{8,64})$/.exec(text);
  return m ? { at: Number(m[1]), jobId: m[2] } : null;
}

export async function listJobs(
  env: Env,
  accountId: string,
  before: Cursor | null,
  limit: number,
): Promise<{ jobs: JobState[]; nextCursor: string | null }> {
  // One more than asked tells whether another page follows.
  const ids = (await accountStub(env, accountId).jobs({ before, limit: limit + 1 })) ?? [];
  const page = ids.slice(0, limit);
  const states = await Promise.all(page.map((r) => jobStub(env.JOBS, r.jobId)?.get() ?? null));
  // A hold whose job was never stored (the object failed between the two) is not a job.
  const jobs = states.filter((s): s is JobState => s !== null && s.accountId === accountId);
  const last = page.at(-1);
  return { jobs, nextCursor: ids.length > limit && last ? encodeCursor(last) : null };
}
