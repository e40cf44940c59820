/**
 * What a dispatch backend answers: the job was taken (by whom, under which attempt), or try again later (and why).
 * `attempt` is the attempt number that was last sent (a pool moves a job to a new attempt when a runner times out);
 * `ended`: the job ended while it was being dispatched, nothing is left to do.
 */
export type DispatchResult =
  | { ok: true; target: string; attempt?: number }
  | { ok: false; retryAfterMs: number | null; reason: string; permanent?: boolean; attempt?: number; ended?: boolean };

/** Backoff between dispatch rounds: 1 s, 2 s, 4 s, ... capped at a minute, or what the runners asked for. */
export function backoffMs(tries: number, retryAfterMs: number | null): number {
  const exp = Math.min(60_000, 1000 * 2 ** Math.max(0, tries - 1));
  return Math.max(exp, retryAfterMs ?? 0);
}

/** Rounds of dispatch (each round tries every runner of the pool once) before a job fails. */
export const MAX_DISPATCH_ROUNDS = 8;
