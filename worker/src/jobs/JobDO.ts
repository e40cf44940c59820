/**
 * One Durable Object per job (binding JOBS; the job id is the object's id). It owns the job's state machine
 * (transitions.ts), its event log, dispatch with retries, and the lease: the job's alarm is either "dispatch now" or
 * "the runner's lease runs out then", and when the lease runs out (or its runner is proven gone early) the job is
 * re-dispatched as attempt + 1 (jobAlarm.ts).
 * Events of the superseded attempt are refused from then on, so a job never completes (or is billed) twice.
 */
import { DurableObject } from "cloudflare:workers";
import type { RunnerEvent } from "@accdiff/shared";
import { reserve } from "../accounts";
import { writePhaseRecord } from "../cache/fill";
import { cancelAttempt } from "../dispatch/backend";
import type { Prediction } from "../dispatch/replicate";
import { artifactR2Key } from "../dispatch/runnerJob";
import { isFinished, type JobState } from "../domain/job";
import { configOf, type Env } from "../env";
import { AlarmSlots } from "./alarmSlots";
import { BILLING_RETRY_MS, settleBilling } from "./billing";
import { type CreateInit, type CreateOutcome, initialState } from "./create";
import { JobAlarm } from "./jobAlarm";
import { leaseAlarmAt } from "./liveness";
import { Mutex } from "./mutex";
import { seenBefore } from "./nonces";
import { predictionEvents, type SynthEvent } from "./replicateUpdate";
import { admit } from "./sequence";
import { alarmPlan, applyEvent, cacheMarker, cancelByUser, type Effect, type VerifiedArtifact } from "./transitions";
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
const DISPATCH_WATCHDOG_MS = 60_000;
const ARTIFACT_KEY = /^([a-z_]+)\/[A-Za-z0-9._-]{1,128}$/;

export class JobDO extends DurableObject<Env> {
  private state: JobState | null | undefined;
  private readonly lock = new Mutex();
  private readonly waiters = new Set<() => void>();
  /** The job's alarm and the webhook retries share the object's one alarm. */
  private readonly slots = new AlarmSlots(this.ctx.storage);
  private readonly webhooks = new WebhookOutbox(this.ctx.storage, this.env, (at) =>
    this.slots.earliest("webhooks", at),
  );
  /** The job's slot of the alarm, lent the state, the lock and the carrying out of transitions. */
  private readonly jobAlarm = new JobAlarm(this.env, {
    lock: this.lock,
    load: () => this.load(),
    draft: () => this.draft(),
    save: (s, now) => this.save(s, now),
    perform: (s, effects, now, inlineDispatch) => this.perform(s, effects, now, inlineDispatch),
    scheduleAlarm: (s, now, at) => this.scheduleAlarm(s, now, at),
    cancelRemote: (target, attempt) => this.ctx.waitUntil(this.cancelRemote(target, attempt)),
    replicateUpdate: (attempt, webhookId, prediction) => this.replicateUpdate(attempt, webhookId, prediction),
  });

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
      if (s.status === "succeeded") await settleBilling(this.env, s);
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
    if (plan.settle) await settleBilling(this.env, s);
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

  override async alarm(): Promise<void> {
    const due = await this.slots.fired(Date.now());
    if (due.job) await this.jobAlarm.run();
    if (due.webhooks) await this.webhooks.deliverDue();
  }
}
