/**
 * Noticing a dead runner before its lease runs out. A runner repeats itself at least every heartbeat while it holds a
 * job (the interval is in the RunnerJob), so an attempt that missed two keep-alives is suspect: the lease alarm fires
 * then, and the JobDO probes the runner (dispatch/runnerProbe.ts). Only clear evidence re-dispatches early (the
 * connection refused or reset, or a runner that does not hold the attempt); anything else probes again a heartbeat
 * later, and the lease (LEASE_SECONDS) stays the backstop. With the default 10 s heartbeat a runner killed mid-render
 * is re-dispatched about 22 s after its last event, against 180 s for the lease alone.
 */
import { probeAttempt } from "../dispatch/runnerProbe";
import type { JobState } from "../domain/job";

export interface LivenessConfig {
  leaseMs: number;
  heartbeatMs: number;
}

/** How long an attempt may be silent before its runner is probed: two missed keep-alives, and delivery slack. */
export function silenceLimitMs(heartbeatMs: number): number {
  return 2 * heartbeatMs + 2000;
}

/** When the lease was last renewed (the latest sign of life), from its deadline. */
function lastSignOf(s: JobState, cfg: LivenessConfig): number | null {
  return typeof s.leaseUntil === "number" ? s.leaseUntil - cfg.leaseMs : null;
}

/**
 * When the lease alarm should fire: for a runner attempt, at the silence limit (then a heartbeat after each probe that
 * proved nothing), never after the lease deadline; for other backends, at the deadline.
 */
export function leaseAlarmAt(s: JobState, now: number, cfg: LivenessConfig): number {
  const deadline = s.leaseUntil ?? now + cfg.leaseMs;
  const last = lastSignOf(s, cfg);
  if (s.backend !== "runner" || last === null) return deadline;
  const check = last + silenceLimitMs(cfg.heartbeatMs);
  return Math.min(deadline, check > now ? check : now + cfg.heartbeatMs);
}

/** The runner of the current attempt missed its keep-alives (and its lease has not run out yet). */
export function suspectSilent(s: JobState, now: number, cfg: LivenessConfig): boolean {
  const last = lastSignOf(s, cfg);
  if (s.backend !== "runner" || s.alarm !== "lease" || !s.dispatch.target || last === null) return false;
  return now >= last + silenceLimitMs(cfg.heartbeatMs) && now < (s.leaseUntil as number);
}

/** A probe's finding about one attempt, tied to the lease it judged (a sign of life since then voids it). */
export interface Finding {
  attempt: number;
  leaseUntil: number;
  dead: boolean;
  reason: string;
}

/**
 * Probes the runner of a suspect attempt (outside the job's lock: events keep flowing meanwhile). "Dead" needs two
 * probes a second apart to agree, so one dropped connection does not cost a re-dispatch. Null when not suspect.
 */
export async function probeSuspect(
  s: JobState,
  now: number,
  cfg: LivenessConfig & { dispatchTimeoutMs: number },
  secret: string,
): Promise<Finding | null> {
  if (!suspectSilent(s, now, cfg)) return null;
  const runner = s.dispatch.target as string;
  const timeoutMs = Math.min(cfg.dispatchTimeoutMs, 5000);
  const finding = (dead: boolean, reason: string): Finding => ({
    attempt: s.attempt,
    leaseUntil: s.leaseUntil as number,
    dead,
    reason,
  });
  const first = await probeAttempt(runner, secret, s.id, s.attempt, timeoutMs);
  if (first.verdict !== "dead") return finding(false, first.verdict === "alive" ? "alive" : first.reason);
  await new Promise((r) => setTimeout(r, 1000));
  const second = await probeAttempt(runner, secret, s.id, s.attempt, timeoutMs);
  if (second.verdict !== "dead") return finding(false, second.verdict === "alive" ? "alive" : second.reason);
  return finding(true, second.reason);
}
