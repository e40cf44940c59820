/**
 * The job's own slot of the JobDO's alarm (alarmSlots.ts; the other slot delivers webhooks). It is either "dispatch
 * now" or "the runner's lease runs out then": every sign of life from the runner pushes it forward, and when it fires
 * the attempt is presumed dead and the job is re-dispatched (attempt + 1), resuming from the deepest phase it has.
 * A runner attempt's lease alarm fires earlier, once it missed two keep-alives: the runner is probed, and a runner
 * proven gone is re-dispatched at once (liveness.ts). A Replicate attempt's lease asks Replicate first. The same alarm
 * retries a billing settlement that failed (billing.ts) and a dispatch no backend took (with backoff).
 *
 * The JobDO keeps the state, its lock and the carrying out of transitions; it lends them to the alarm as a JobAlarmHost.
 */
import type { RunnerJob } from "@accdiff/shared";
import { dispatchAttempt, replicateConfigOf } from "../dispatch/backend";
import { getPrediction, type Prediction } from "../dispatch/replicate";
import { buildRunnerJob } from "../dispatch/runnerJob";
import { backoffMs, MAX_DISPATCH_ROUNDS } from "../dispatch/types";
import { isFinished, type JobState } from "../domain/job";
import { configOf, type Env } from "../env";
import { settleBilling } from "./billing";
import { type Finding, leaseAlarmAt, probeSuspect } from "./liveness";
import type { Mutex } from "./mutex";
import { dispatchGaveUp, type Effect, retryOrFail } from "./transitions";

/** What the alarm needs of its JobDO (JobDO.ts has each one's rules). */
export interface JobAlarmHost {
  readonly lock: Mutex;
  load(): Promise<JobState | null>;
  draft(): Promise<JobState | null>;
  save(s: JobState, now: number): Promise<void>;
  perform(s: JobState, effects: Effect[], now: number, inlineDispatch?: boolean): Promise<void>;
  scheduleAlarm(s: JobState, now: number, at: number | null | undefined): Promise<void>;
  /** Tells the backend to stop `attempt`, in the background (the alarm does not wait for it). */
  cancelRemote(target: string | null, attempt: number): void;
  replicateUpdate(attempt: number, webhookId: string | null, prediction: Prediction): Promise<unknown>;
}

/** The lease has a deadline that has not passed yet (states saved before deadlines were kept have none). */
function leaseRunning(s: JobState, now: number): boolean {
  return s.alarm === "lease" && typeof s.leaseUntil === "number" && now < s.leaseUntil;
}

export class JobAlarm {
  constructor(
    private readonly env: Env,
    private readonly job: JobAlarmHost,
  ) {}

  /** Serves the job's slot when the alarm fires: billing retry, lease expiry or dispatch, whichever is due. */
  async run(): Promise<void> {
    if (await this.reconcileReplicate()) return;
    const cfg = configOf(this.env);
    const finding = await this.probeRunner();
    const work = await this.job.lock.run(async () => {
      const s = await this.job.draft();
      if (!s) return null;
      const now = Date.now();
      if (s.billingPending) {
        await settleBilling(this.env, s);
        await this.job.save(s, now);
        if (s.billingPending || isFinished(s)) {
          await this.job.scheduleAlarm(s, now, undefined);
          return null;
        }
      }
      if (isFinished(s)) return null;
      // The probe's finding holds only if nothing was heard from the attempt since (the lease was not renewed).
      const dead = finding?.dead && finding.attempt === s.attempt && finding.leaseUntil === s.leaseUntil;
      if (s.alarm === "lease" && leaseRunning(s, now) && dead) {
        const effects = retryOrFail(s, `the runner is gone: ${finding.reason}`, now, cfg.maxAttempts);
        await this.job.perform(s, effects, now, true);
        if (isFinished(s)) return null;
      } else if (s.alarm === "lease" && leaseRunning(s, now)) {
        // Alive, not proven dead, or renewed since this alarm was set: watch it again (liveness.ts).
        await this.job.scheduleAlarm(s, now, leaseAlarmAt(s, now, cfg));
        return null;
      } else if (s.alarm === "lease") {
        // The runner said nothing for a whole lease: presume it dead, dispatch the next attempt.
        const effects = retryOrFail(s, "the runner went silent (lease expired)", now, cfg.maxAttempts);
        await this.job.perform(s, effects, now, true);
        if (isFinished(s)) return null;
      }
      if (s.alarm !== "dispatch" || s.backend === "cache") return null;
      return {
        attempt: s.attempt,
        tries: s.dispatch.tries,
        backend: s.backend,
        base: s.base,
        job: await buildRunnerJob(s, this.env.URL_SIGNING_SECRET, now, cfg.heartbeatMs),
      };
    });
    if (!work) return;

    // Outside the lock: a fast runner may post its first events before this call returns.
    const result = await dispatchAttempt(this.env, work.backend, work.job, work.base, work.tries, (_runner, job, why) =>
      this.abandonAttempt(job.attempt, why),
    );
    const attempt = result.attempt ?? work.attempt;
    if (!result.ok && result.ended) return;

    await this.job.lock.run(async () => {
      const s = await this.job.draft();
      if (!s || s.attempt !== attempt) return;
      const now = Date.now();
      if (isFinished(s)) {
        // Cancelled while the dispatch was in flight: stop what was just started.
        if (result.ok) this.job.cancelRemote(result.target, attempt);
        return;
      }
      if (result.ok) {
        s.dispatch = { target: result.target, tries: 0, lastError: null };
        // Events may already have renewed the lease; otherwise it starts now.
        const effects: Effect[] = s.alarm === "dispatch" ? [{ type: "renewLease" }] : [];
        await this.job.perform(s, effects, now);
        return;
      }
      s.dispatch = { target: null, tries: s.dispatch.tries + 1, lastError: result.reason };
      if (result.permanent || s.dispatch.tries >= MAX_DISPATCH_ROUNDS) {
        await this.job.perform(s, dispatchGaveUp(s, result.reason, now), now);
        return;
      }
      s.alarm = "dispatch";
      await this.job.save(s, now);
      await this.job.scheduleAlarm(s, now, now + backoffMs(s.dispatch.tries, result.retryAfterMs));
    });
  }

  /**
   * Replicate's lease: webhooks can be lost, so before presuming a prediction dead, ask Replicate. A prediction still
   * starting or processing renews the lease; a finished one is applied as if its webhook had come. True when handled.
   */
  private async reconcileReplicate(): Promise<boolean> {
    const cur = await this.job.load();
    if (!cur || isFinished(cur) || cur.alarm !== "lease" || cur.backend !== "replicate" || !cur.dispatch.target) {
      return false;
    }
    if (leaseRunning(cur, Date.now())) return false;
    const p = await getPrediction(replicateConfigOf(this.env), cur.dispatch.target);
    if (!p || p.id !== cur.dispatch.target) return false;
    if (p.status === "starting" || p.status === "processing") {
      await this.job.lock.run(async () => {
        const s = await this.job.draft();
        if (!s || isFinished(s) || s.attempt !== cur.attempt) return;
        await this.job.perform(s, [{ type: "renewLease" }], Date.now());
      });
    } else {
      await this.job.replicateUpdate(cur.attempt, null, p);
    }
    return true;
  }

  /**
   * A runner did not answer the dispatch of `attempt` in time and may be running it: that attempt is given up (as if
   * its runner had gone silent) so that its events are refused from now on. Returns the next attempt's RunnerJob for
   * the pool to send elsewhere, or null when the job ended or has no attempts left.
   */
  private abandonAttempt(attempt: number, reason: string): Promise<RunnerJob | null> {
    return this.job.lock.run(async () => {
      const s = await this.job.draft();
      if (!s || isFinished(s) || s.attempt !== attempt) return null;
      const now = Date.now();
      await this.job.perform(s, retryOrFail(s, reason, now, configOf(this.env).maxAttempts), now, true);
      if (isFinished(s)) return null;
      return buildRunnerJob(s, this.env.URL_SIGNING_SECRET, now, configOf(this.env).heartbeatMs);
    });
  }

  /** A runner that missed its keep-alives is probed before anything else (outside the lock). */
  private async probeRunner(): Promise<Finding | null> {
    const s = await this.job.load();
    if (!s || isFinished(s)) return null;
    return probeSuspect(s, Date.now(), configOf(this.env), this.env.RUNNER_SECRET);
  }
}
