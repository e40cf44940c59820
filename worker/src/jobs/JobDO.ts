/**
 * One Durable Object per job (binding JOBS; the job id is the object's id). It owns the job's state machine
 * (transitions.ts), its event log, dispatch with retries, and the lease: the single alarm is either "dispatch now"
 * or "the runner's lease runs out then" — every sign of life from the runner pushes it forward, and when it fires
 * the attempt is presumed dead and the job is re-dispatched (attempt + 1), resuming from the deepest phase it has.
 * A runner attempt's lease alarm fires earlier, once it missed two keep-alives: the runner is probed, and a runner
 * proven gone is re-dispatched at once (liveness.ts).
 * Events of the superseded attempt are refused from then on, so a job never completes (or is billed) twice.
 */
import { DurableObject } from "cloudflare:workers";
import type { RunnerEvent, RunnerJob } from "@accdiff/shared";
import { capture, release, reserve } from "../accounts";
import { writePhaseRecord } from "../cache/fill";
import { cancelAttempt, dispatchAttempt, replicateConfigOf } from "../dispatch/backend";
import { getPrediction, type Prediction } from "../dispatch/replicate";
import { artifactR2Key, buildRunnerJob } from "../dispatch/runnerJob";
import { backoffMs, MAX_DISPATCH_ROUNDS } from "../dispatch/types";
import { isFinished, type JobState } from "../domain/job";
import { configOf, type Env } from "../env";
import { AlarmSlots } from "./alarmSlots";
import { type CreateInit, type CreateOutcome, initialState } from "./create";
import { type Finding, leaseAlarmAt, probeSuspect } from "./liveness";
import { Mutex } from "./mutex";
import { seenBefore } from "./nonces";
import { predictionEvents, type SynthEvent } from "./replicateUpdate";
import { admit } from "./sequence";
import {
  alarmPlan,
  applyEvent,
  cacheMarker,
  cancelByUser,
  dispatchGaveUp,
  type Effect,
  retryOrFail,
  type VerifiedArtifact,
} from "./transitions";
import { type WebhookDelivery, WebhookOutbox } from "./webhookOutbox";

export type EventResult =
  | "applied"
  | "buffered"
  | "duplicate"
  | "ignored"
  | "stale"
  | "unknown-attempt"
  | "overflow"
  | "replayed"
  | "not-found";

export type UploadPermission = "ok" | "not-found" | "finished" | "stale" | "replayed";

const STATE_KEY = "job";
const BILLING_RETRY_MS = 5_000;
const DISPATCH_WATCHDOG_MS = 60_000;
const ARTIFACT_KEY = /^([a-z_]+)\/[A-Za-z0-9._-]{1,128}$/;

/** The lease has a deadline that has not passed yet (states saved before deadlines were kept have none). */
function leaseRunning(s: JobState, now: number): boolean {
  return s.alarm === "lease" && typeof s.leaseUntil === "number" && now < s.leaseUntil;
}

export class JobDO extends DurableObject<Env> {
  private state: JobState | null | undefined;
  private readonly lock = new Mutex();
  private readonly waiters = new Set<() => void>();
  /** The job's alarm and the webhook retries share the object's one alarm. */
  private readonly slots = new AlarmSlots(this.ctx.storage);
  private readonly webhooks = new WebhookOutbox(this.ctx.storage, this.env, (at) =>
    this.slots.earliest("webhooks", at),
  );

  private async load(): Promise<JobState | null> {
    if (this.state === undefined) this.state = (await this.ctx.storage.get<JobState>(STATE_KEY)) ?? null;
    return this.state;
  }

  private async save(s: JobState, now: number): Promise<void> {
    const before = this.state ?? null;
    s.version += 1;
    s.updatedAt = now;
    this.state = s;
    await this.ctx.storage.put(STATE_KEY, s);
    // Webhook events of this transition (a no-op for jobs without a webhook); delivered from the alarm.
    await this.webhooks.record(before, s, now);
    for (const w of this.waiters) w();
    this.waiters.clear();
  }

  /** A working copy: transitions mutate it, and it replaces the state only when saved. */
  private async draft(): Promise<JobState | null> {
    const s = await this.load();
    return s ? structuredClone(s) : null;
  }

  // ---- RPC: creation and reads -------------------------------------------------------------------------------------

  /** Accepts a job: reserves its quote, then stores it (nothing is stored when the reservation is refused). */
  create(init: CreateInit): Promise<CreateOutcome> {
    return this.lock.run(async () => {
      const existing = await this.load();
      if (existing) {
        const same = existing.requestHash === init.requestHash && existing.accountId === init.accountId;
        return same ? { kind: "existing", state: existing } : { kind: "conflict" };
      }
      const r = await reserve(this.env, init.accountId, init.jobId, init.quote.price);
      if (!r.ok) {
        const refused: CreateOutcome = {
          kind: "refused",
          reason: r.reason,
          balance: r.balance,
          available: r.available,
        };
        if (r.reason === "daily_quota") refused.retryAfter = r.retryAfter;
        return refused;
      }
      const now = Date.now();
      const s = initialState(init, now);
      s.version = 0;
      // A full cache hit is charged at once, before anyone can see it succeeded.
      if (s.status === "succeeded") await this.settleBilling(s);
      await this.save(s, now);
      await this.scheduleAlarm(s, now, s.alarm === "dispatch" ? now : undefined);
      return { kind: "created", state: s };
    });
  }

  async get(): Promise<JobState | null> {
    return this.load();
  }

  /** Resolves with the state once its version exceeds `version`, or after `timeoutMs` (long poll for SSE). */
  async waitForChange(version: number, timeoutMs: number): Promise<JobState | null> {
    const s = await this.load();
    if (!s || s.version > version || isFinished(s)) return s;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.waiters.add(done);
    });
    return this.load();
  }

  // ---- RPC: runner traffic -----------------------------------------------------------------------------------------

  /** Records a signed request's nonce; true when it was seen before (a replay). Only for existing jobs. */
  private replayed(nonce: string, now: number): Promise<boolean> {
    return seenBefore(this.ctx.storage, nonce, now);
  }

  /** Would an upload of `attempt` be taken now? (Before its body is read; records nothing.) */
  async uploadOpen(attempt: number): Promise<Exclude<UploadPermission, "replayed">> {
    const s = await this.load();
    if (!s) return "not-found";
    if (isFinished(s)) return "finished";
    if (attempt !== s.attempt || s.backend !== "runner") return "stale";
    return "ok";
  }

  /** May the runner of `attempt` upload an artifact now? (Its signature checked: records the nonce.) */
  authorizeUpload(attempt: number, nonce: string): Promise<UploadPermission> {
    return this.lock.run(async () => {
      const s = await this.load();
      if (!s) return "not-found";
      if (await this.replayed(nonce, Date.now())) return "replayed";
      return this.uploadOpen(attempt);
    });
  }

  /** Applies a verified runner event: once, in sequence order, only for the current attempt. */
  runnerEvent(event: RunnerEvent, nonce: string): Promise<{ result: EventResult; status?: JobState["status"] }> {
    return this.lock.run(async () => {
      const s = await this.draft();
      if (!s || s.id !== event.jobId) return { result: "not-found" };
      const now = Date.now();
      if (await this.replayed(nonce, now)) return { result: "replayed" };
      if (isFinished(s)) return { result: "ignored", status: s.status };
      if (s.backend !== "runner") return { result: "unknown-attempt" };
      const { admission, seq } = admit(s.seq, event);
      if (admission.kind === "buffered") {
        s.seq = seq;
        await this.save(s, now);
        return { result: "buffered", status: s.status };
      }
      if (admission.kind !== "apply") return { result: admission.kind, status: s.status };
      s.seq = seq;
      const batch: SynthEvent[] = [];
      for (const e of admission.events) {
        batch.push({ event: e, artifact: e.type === "artifact" ? await this.verifyArtifact(s, e) : undefined });
      }
      await this.applyBatch(s, batch, now);
      return { result: "applied", status: s.status };
    });
  }

  private async verifyArtifact(
    s: JobState,
    e: Extract<RunnerEvent, { type: "artifact" }>,
  ): Promise<VerifiedArtifact | null> {
    const m = ARTIFACT_KEY.exec(e.key);
    if (!m || m[1] !== e.kind) return null;
    const r2Key = artifactR2Key(s.id, e.attempt, e.key);
    const head = await this.env.IMAGES.head(r2Key);
    if (!head || head.size !== e.bytes || head.customMetadata?.sha256 !== e.sha256) return null;
    return { ...e, r2Key };
  }

  /** Applies in-order events, logs them, saves, then performs their effects. */
  private async applyBatch(s: JobState, batch: SynthEvent[], now: number): Promise<void> {
    const cfg = configOf(this.env);
    const effects: Effect[] = [];
    const log: Record<string, unknown> = {};
    for (const { event, artifact } of batch) {
      if (isFinished(s)) break;
      effects.push(...applyEvent(s, event, now, { maxAttempts: cfg.maxAttempts, artifact }));
      log[`log:${String(s.logLength++).padStart(8, "0")}`] = { at: now, event };
    }
    await this.ctx.storage.put(log);
    await this.perform(s, effects, now);
  }

  /**
   * Carries out the effects of a transition, then saves the state. `inlineDispatch`: the caller (the alarm) dispatches
   * right away, so a re-dispatch's alarm only guards against that invocation dying midway. Effects come first so that whoever sees the new
   * state (a client polling for "succeeded") also sees its consequences: the cache records and the capture. They are
   * all idempotent (cache keys, billing per job id), so a crash before the save, followed by the runner's retry of
   * the same event, only repeats them.
   */
  private async perform(s: JobState, effects: Effect[], now: number, inlineDispatch = false): Promise<void> {
    const cfg = configOf(this.env);
    const plan = alarmPlan(effects, now, cfg.leaseMs, inlineDispatch ? DISPATCH_WATCHDOG_MS : 0);
    if (plan.alarm !== undefined) {
      s.alarm = plan.alarm;
      s.leaseUntil = plan.alarm === "lease" ? (plan.at ?? null) : null;
    }
    for (const e of effects) {
      try {
        if (e.type === "writeCache" && !s.cacheWritten.includes(cacheMarker(e))) {
          if (await writePhaseRecord(this.env, s, e.phase, now, e.refinement)) s.cacheWritten.push(cacheMarker(e));
        }
      } catch (err) {
        // The cache is an optimisation: a failed write costs a future miss, not this job.
        console.warn(`job ${s.id}: ${e.type} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (plan.settle) await this.settleBilling(s);
    // The internal text of a failure goes to the logs (and the view's debug field), never to its error.
    if (plan.settle && s.status === "failed" && s.error) {
      console.warn(`job ${s.id} failed (${s.error.code ?? "uncoded"}): ${s.error.reason}`);
    }
    await this.save(s, now);
    for (const e of effects) if (e.type === "cancelRemote") this.ctx.waitUntil(this.cancelRemote(e.target, e.attempt));
    // A renewed lease is watched at the silence limit, before its deadline (liveness.ts).
    await this.scheduleAlarm(s, now, plan.alarm === "lease" ? leaseAlarmAt(s, now, cfg) : plan.at);
  }

  /** One alarm serves dispatch, lease and billing retries; `at` undefined keeps the one set. */
  private async scheduleAlarm(s: JobState, now: number, at: number | null | undefined): Promise<void> {
    if (s.billingPending) return this.slots.set("job", now + BILLING_RETRY_MS);
    if (isFinished(s) || at === null) return this.slots.set("job", null);
    if (at !== undefined) return this.slots.set("job", at);
  }

  /** Makes the AccountDO agree with `s.billing` (idempotent calls; retried from the alarm when they fail). */
  private async settleBilling(s: JobState): Promise<void> {
    try {
      if (s.billing.state === "captured") {
        const r = await capture(this.env, s.accountId, s.id, s.billing.charged);
        if (!r.ok) s.warnings.push(`billing: capture answered ${r.outcome}`);
      } else if (s.billing.state === "released") {
        const r = await release(this.env, s.accountId, s.id);
        if (!r.ok) s.warnings.push(`billing: release answered ${r.outcome}`);
      }
      s.billingPending = false;
    } catch (err) {
      s.billingPending = true;
      console.warn(`job ${s.id}: billing not settled yet: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Tells the backend to stop `attempt` (it names the attempt: see dispatch/runnerPool.ts cancelOnRunner). */
  private async cancelRemote(target: string | null, attempt: number): Promise<void> {
    const s = this.state;
    if (!target || !s || s.backend === "cache") return;
    await cancelAttempt(this.env, s.backend, target, s.id, attempt);
  }

  // ---- RPC: the client's cancel, Replicate's webhooks ----------------------------------------------------------------

  /** The job's webhook deliveries, oldest first. */
  webhookDeliveries(): Promise<WebhookDelivery[]> {
    return this.webhooks.list();
  }

  cancel(): Promise<JobState | null> {
    return this.lock.run(async () => {
      const s = await this.draft();
      if (!s) return null;
      if (isFinished(s)) return s;
      const now = Date.now();
      await this.perform(s, cancelByUser(s, now), now);
      return s;
    });
  }

  /** A verified Replicate webhook (or a polled prediction when `webhookId` is null). */
  replicateUpdate(
    attempt: number,
    webhookId: string | null,
    prediction: Prediction,
  ): Promise<{ result: EventResult; status?: JobState["status"] }> {
    return this.lock.run(async () => {
      const s = await this.draft();
      if (!s) return { result: "not-found" };
      if (webhookId && s.webhookIds.includes(webhookId)) return { result: "duplicate", status: s.status };
      if (isFinished(s)) return { result: "ignored", status: s.status };
      if (s.backend !== "replicate" || attempt !== s.attempt) return { result: "stale", status: s.status };
      if (s.dispatch.target && prediction.id !== s.dispatch.target) return { result: "stale", status: s.status };
      const now = Date.now();
      if (webhookId) s.webhookIds = [...s.webhookIds, webhookId].slice(-200);
      s.dispatch.target = prediction.id;
      let batch: SynthEvent[];
      try {
        batch = await predictionEvents(this.env.IMAGES, s, prediction, now);
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        batch = [
          {
            event: {
              jobId: s.id,
              attempt: s.attempt,
              seq: 0,
              at: new Date(now).toISOString(),
              type: "failed",
              reason,
              retryable: true,
            },
          },
        ];
      }
      await this.applyBatch(s, batch, now);
      return { result: "applied", status: s.status };
    });
  }

  // ---- the alarm: dispatch, lease expiry, billing retries, webhooks --------------------------------------------------

  /**
   * Replicate's lease: webhooks can be lost, so before presuming a prediction dead, ask Replicate. A prediction still
   * starting or processing renews the lease; a finished one is applied as if its webhook had come. True when handled.
   */
  private async reconcileReplicate(): Promise<boolean> {
    const cur = await this.load();
    if (!cur || isFinished(cur) || cur.alarm !== "lease" || cur.backend !== "replicate" || !cur.dispatch.target) {
      return false;
    }
    if (leaseRunning(cur, Date.now())) return false;
    const p = await getPrediction(replicateConfigOf(this.env), cur.dispatch.target);
    if (!p || p.id !== cur.dispatch.target) return false;
    if (p.status === "starting" || p.status === "processing") {
      await this.lock.run(async () => {
        const s = await this.draft();
        if (!s || isFinished(s) || s.attempt !== cur.attempt) return;
        await this.perform(s, [{ type: "renewLease" }], Date.now());
      });
    } else {
      await this.replicateUpdate(cur.attempt, null, p);
    }
    return true;
  }

  /**
   * A runner did not answer the dispatch of `attempt` in time and may be running it: that attempt is given up (as if
   * its runner had gone silent) so that its events are refused from now on. Returns the next attempt's RunnerJob for
   * the pool to send elsewhere, or null when the job ended or has no attempts left.
   */
  private abandonAttempt(attempt: number, reason: string): Promise<RunnerJob | null> {
    return this.lock.run(async () => {
      const s = await this.draft();
      if (!s || isFinished(s) || s.attempt !== attempt) return null;
      const now = Date.now();
      await this.perform(s, retryOrFail(s, reason, now, configOf(this.env).maxAttempts), now, true);
      if (isFinished(s)) return null;
      return buildRunnerJob(s, this.env.URL_SIGNING_SECRET, now, configOf(this.env).heartbeatMs);
    });
  }

  /** A runner that missed its keep-alives is probed before anything else (outside the lock). */
  private async probeRunner(): Promise<Finding | null> {
    const s = await this.load();
    if (!s || isFinished(s)) return null;
    return probeSuspect(s, Date.now(), configOf(this.env), this.env.RUNNER_SECRET);
  }

  override async alarm(): Promise<void> {
    const due = await this.slots.fired(Date.now());
    if (due.job) await this.jobAlarm();
    if (due.webhooks) await this.webhooks.deliverDue();
  }

  private async jobAlarm(): Promise<void> {
    if (await this.reconcileReplicate()) return;
    const cfg = configOf(this.env);
    const finding = await this.probeRunner();
    const work = await this.lock.run(async () => {
      const s = await this.draft();
      if (!s) return null;
      const now = Date.now();
      if (s.billingPending) {
        await this.settleBilling(s);
        await this.save(s, now);
        if (s.billingPending || isFinished(s)) {
          await this.scheduleAlarm(s, now, undefined);
          return null;
        }
      }
      if (isFinished(s)) return null;
      // The probe's finding holds only if nothing was heard from the attempt since (the lease was not renewed).
      const dead = finding?.dead && finding.attempt === s.attempt && finding.leaseUntil === s.leaseUntil;
      if (s.alarm === "lease" && leaseRunning(s, now) && dead) {
        await this.perform(s, retryOrFail(s, `the runner is gone: ${finding.reason}`, now, cfg.maxAttempts), now, true);
        if (isFinished(s)) return null;
      } else if (s.alarm === "lease" && leaseRunning(s, now)) {
        // Alive, not proven dead, or renewed since this alarm was set: watch it again (liveness.ts).
        await this.scheduleAlarm(s, now, leaseAlarmAt(s, now, cfg));
        return null;
      } else if (s.alarm === "lease") {
        // The runner said nothing for a whole lease: presume it dead, dispatch the next attempt.
        await this.perform(
          s,
          retryOrFail(s, "the runner went silent (lease expired)", now, cfg.maxAttempts),
          now,
          true,
        );
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

    await this.lock.run(async () => {
      const s = await this.draft();
      if (!s || s.attempt !== attempt) return;
      const now = Date.now();
      if (isFinished(s)) {
        // Cancelled while the dispatch was in flight: stop what was just started.
        if (result.ok) this.ctx.waitUntil(this.cancelRemote(result.target, attempt));
        return;
      }
      if (result.ok) {
        s.dispatch = { target: result.target, tries: 0, lastError: null };
        // Events may already have renewed the lease; otherwise it starts now.
        const effects: Effect[] = s.alarm === "dispatch" ? [{ type: "renewLease" }] : [];
        await this.perform(s, effects, now);
        return;
      }
      s.dispatch = { target: null, tries: s.dispatch.tries + 1, lastError: result.reason };
      if (result.permanent || s.dispatch.tries >= MAX_DISPATCH_ROUNDS) {
        await this.perform(s, dispatchGaveUp(s, result.reason, now), now);
        return;
      }
      s.alarm = "dispatch";
      await this.save(s, now);
      await this.scheduleAlarm(s, now, now + backoffMs(s.dispatch.tries, result.retryAfterMs));
    });
  }
}
