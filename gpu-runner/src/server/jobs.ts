/**
 * One job at a time per GPU, a bounded queue behind it, idempotent job ids, cancellation and graceful drain.
 * Every job in hand keeps the worker's lease alive (JobEvents.keepAlive): a queued one repeats `accepted` with its
 * current queue position, a running one its latest progress. A job whose events cannot be delivered is stopped.
 */
import type { ArtifactKind, RunnerJob } from "@accdiff/shared";
import { sha256Hex } from "@accdiff/shared";
import type { JobEngine, JobHooks, JobOutcome } from "./engine";
import { type EventBody, JobEvents } from "./events";
import { type SignedHttp, signedFetch, transferTimeoutMs } from "./http";
import type { JobRecord, Journal } from "./journal";

export interface JobManagerOptions {
  engine: JobEngine;
  http: SignedHttp;
  journal: Journal;
  /** Jobs waiting behind the running one. */
  queueCapacity: number;
  progressIntervalMs?: number;
  /**
   * The longest a job in hand stays silent towards the worker (default DEFAULT_HEARTBEAT_MS). A job that names its
   * own (the interval the worker watches) gets the shorter of the two.
   */
  heartbeatMs?: number;
}

/** The largest artifact the worker stores (and so the largest download): it sets a download's deadline. */
const LARGEST_ARTIFACT_BYTES = 100 * 1024 * 1024;

interface Active {
  record: JobRecord;
  job: RunnerJob;
  controller: AbortController;
  events: JobEvents;
  /** Why the job was aborted, when it was. */
  abortReason?: "cancel" | "shutdown" | "undeliverable";
}

export type SubmitResult =
  | { kind: "accepted"; record: JobRecord; queuePosition: number }
  | { kind: "duplicate"; record: JobRecord }
  | { kind: "full"; retryAfterSeconds: number }
  | { kind: "draining" };

const now = () => new Date().toISOString();

export class JobManager {
  private readonly records = new Map<string, JobRecord>();
  private readonly queue: Active[] = [];
  private current: Active | null = null;
  private draining = false;
  private idle: Promise<void> = Promise.resolve();
  private wake: (() => void) | null = null;
  private readonly avgJobMs = { value: 60_000 };

  constructor(private readonly opts: JobManagerOptions) {
    for (const r of opts.journal.load()) {
      if (r.status === "queued" || r.status === "running") {
        // The process died with this job in hand: it did not finish here, and another attempt may succeed.
        Object.assign(r, {
          status: "failed",
          reason: "runner restarted while the job was in progress",
          retryable: true,
          finishedAt: now(),
        });
        opts.journal.save(r);
        // No event is sent from here: the worker's lease notices the silence and re-dispatches; meanwhile
        // GET /v1/jobs/:id answers this record and a re-sent job id runs anew.
      }
      this.records.set(r.jobId, r);
    }
    this.idle = this.loop();
  }

  get depth(): number {
    return this.queue.length + (this.current ? 1 : 0);
  }

  get acceptingJobs(): boolean {
    return !this.draining;
  }

  get(jobId: string): JobRecord | undefined {
    return this.records.get(jobId);
  }

  submit(job: RunnerJob): SubmitResult {
    if (this.draining) return { kind: "draining" };
    const existing = this.records.get(job.jobId);
    if (existing) {
      const active = existing.status === "queued" || existing.status === "running";
      // The same attempt again, or any attempt of a job whose success the worker was told of: nothing new to do.
      if (existing.attempt >= job.attempt || (existing.status === "succeeded" && existing.completedDelivered))
        return { kind: "duplicate", record: existing };
      // A newer attempt supersedes an older one still in hand (the worker gave up on it); a failed or cancelled
      // job (a runner restart included) runs anew, and so does one that succeeded here but whose `completed` was
      // lost or is still being retried: the worker, which refuses the old attempt's events from now on, would
      // otherwise wait for this attempt until it gave up. Its artifacts were uploaded under the old attempt, so
      // the new one re-runs (the worker's phase cache makes that cheap) rather than re-sending only `completed`.
      if (active) this.cancel(job.jobId, "superseded by a newer attempt");
    }
    if (this.queue.length >= this.opts.queueCapacity) {
      return {
        kind: "full",
        retryAfterSeconds: Math.max(1, Math.ceil(((this.queue.length + 1) * this.avgJobMs.value) / 1000)),
      };
    }
    const record: JobRecord = {
      jobId: job.jobId,
      attempt: job.attempt,
      status: "queued",
      receivedAt: now(),
      phasesCompleted: [],
      callbackUrl: job.callbackUrl,
    };
    const active: Active = {
      record,
      job,
      controller: new AbortController(),
      events: new JobEvents(job, this.opts.http, {
        progressIntervalMs: this.opts.progressIntervalMs,
        heartbeatMs: heartbeatOf(job, this.opts.heartbeatMs),
        onUndeliverable: (event, error) => this.abandon(active, `event ${event.seq} (${event.type}): ${String(error)}`),
      }),
    };
    this.records.set(job.jobId, record);
    this.save(active);
    this.queue.push(active);
    const queuePosition = this.positionOf(active);
    void this.emit(active, { type: "accepted", queuePosition });
    // Waiting behind a long job must not look like silence to the worker's lease.
    active.events.keepAlive(() => ({ type: "accepted", queuePosition: this.positionOf(active) }));
    this.wake?.();
    return { kind: "accepted", record, queuePosition };
  }

  /** The record of `attempt` of a job, when that is the attempt this runner holds. */
  attempt(jobId: string, attempt: number): JobRecord | undefined {
    const r = this.records.get(jobId);
    return r && r.attempt === attempt ? r : undefined;
  }

  /**
   * The worker's cancel, which names the attempt it is for: refused (undefined) unless this runner holds that attempt,
   * so a late cancel of a dead attempt cannot stop the attempt that replaced it.
   */
  cancelAttempt(jobId: string, attempt: number): JobRecord | undefined {
    if (!this.attempt(jobId, attempt)) return undefined;
    return this.cancel(jobId);
  }

  /** Cancels a queued job at once, a running one between model calls (whatever attempt this runner holds). */
  cancel(jobId: string, why = "cancelled by request"): JobRecord | undefined {
    const record = this.records.get(jobId);
    if (!record) return undefined;
    const qi = this.queue.findIndex((a) => a.record.jobId === jobId);
    if (qi >= 0) {
      const [a] = this.queue.splice(qi, 1);
      this.finish(a, "cancelled", { reason: why });
      void this.emit(a, { type: "cancelled", phasesCompleted: [] });
    } else if (this.current?.record.jobId === jobId) {
      this.current.abortReason = "cancel";
      this.current.controller.abort(new Error(why));
    }
    return record;
  }

  /**
   * SIGTERM: stop taking jobs; queued jobs are handed back (failed, retryable) and the running one is stopped at its
   * next model call and handed back likewise. Resolves when every event went out.
   */
  async drain(): Promise<void> {
    this.draining = true;
    for (const a of this.queue.splice(0)) {
      this.finish(a, "failed", { reason: "runner shutting down", retryable: true });
      void this.emit(a, { type: "failed", reason: "runner shutting down", retryable: true, phasesCompleted: [] });
      await a.events.flush();
    }
    if (this.current) {
      this.current.abortReason = "shutdown";
      this.current.controller.abort(new Error("runner shutting down"));
    }
    this.wake?.();
    await this.idle;
  }

  /**
   * The worker did not take one of this job's events after every retry (it is unreachable, or answered that the
   * attempt is superseded): stop the job without another event. The worker's lease re-dispatches it if needed.
   */
  private abandon(a: Active, why: string): void {
    const reason = `events could not be delivered: ${why}`;
    const qi = this.queue.indexOf(a);
    if (qi >= 0) {
      this.queue.splice(qi, 1);
      this.finish(a, "failed", { reason, retryable: true });
      this.opts.http.log.error("job abandoned", { jobId: a.record.jobId, attempt: a.record.attempt, reason });
    } else if (this.current === a && !a.controller.signal.aborted) {
      a.abortReason = "undeliverable";
      a.controller.abort(new Error(reason));
    }
    // Otherwise the job had ended already (its last event was the one lost): its record stays as it ended, and a
    // success stays without completedDelivered, so the worker's next attempt runs anew.
  }

  /** Jobs ahead of `a`: the running one and those queued before it. */
  private positionOf(a: Active): number {
    const qi = this.queue.indexOf(a);
    return qi < 0 ? 0 : qi + (this.current ? 1 : 0);
  }

  private async loop(): Promise<void> {
    for (;;) {
      if (this.draining && !this.current) return;
      const next = this.queue.shift();
      if (!next) {
        if (this.draining) return;
        await new Promise<void>((r) => {
          this.wake = r;
        });
        this.wake = null;
        continue;
      }
      this.current = next;
      await this.runOne(next);
      this.current = null;
    }
  }

  private async runOne(a: Active): Promise<void> {
    a.record.status = "running";
    a.record.startedAt = now();
    this.save(a);
    // A single model call or upload may outlast the worker's lease: repeat where the job is (before the first
    // progress, that it is at the head of the queue).
    a.events.keepAlive((): EventBody => a.events.lastProgress ?? { type: "accepted", queuePosition: 0 });
    const started = Date.now();
    try {
      const outcome = await this.opts.engine.run(a.job, this.hooks(a));
      if (a.controller.signal.aborted) throw a.controller.signal.reason;
      this.finish(a, "succeeded", {});
      await this.emit(a, { type: "completed", ...outcome });
      if (!a.events.undelivered) {
        a.record.completedDelivered = true;
        this.save(a);
      }
      this.avgJobMs.value = 0.7 * this.avgJobMs.value + 0.3 * (Date.now() - started);
    } catch (e) {
      const phasesCompleted = [...a.record.phasesCompleted];
      if (a.abortReason === "undeliverable") {
        // No event: the stream is dead (see abandon).
        const reason = String((a.controller.signal.reason as Error).message);
        this.finish(a, "failed", { reason, retryable: true });
        this.opts.http.log.error("job abandoned", { jobId: a.record.jobId, attempt: a.record.attempt, reason });
      } else if (a.abortReason === "cancel") {
        this.finish(a, "cancelled", { reason: "cancelled" });
        await this.emit(a, { type: "cancelled", phasesCompleted });
      } else {
        const shutdown = a.abortReason === "shutdown";
        const reason = shutdown ? "runner shutting down" : e instanceof Error ? e.message : String(e);
        const retryable = shutdown || (e instanceof Error && (e as Error & { retryable?: boolean }).retryable === true);
        this.finish(a, "failed", { reason, retryable });
        this.opts.http.log.error("job failed", { jobId: a.record.jobId, reason, retryable });
        await this.emit(a, { type: "failed", reason: reason.slice(0, 2000), retryable, phasesCompleted });
      }
    }
    await a.events.flush();
  }

  private hooks(a: Active): JobHooks {
    const { job } = a;
    return {
      signal: a.controller.signal,
      progress: (p) => a.events.progress(p),
      artifact: async (art) => {
        const key = `${art.kind}/${art.name}`;
        await signedFetch(this.opts.http, `${job.uploadUrl}/${key}`, {
          method: "PUT",
          body: art.bytes,
          contentType: art.contentType,
          stop: a.controller.signal,
          timeoutMs: transferTimeoutMs(this.opts.http, art.bytes.byteLength),
        });
        if (
          (art.kind === "phase_image" || art.kind === "lowres_image") &&
          art.phase &&
          !a.record.phasesCompleted.includes(art.phase)
        ) {
          a.record.phasesCompleted.push(art.phase);
        }
        await this.emit(a, {
          type: "artifact",
          kind: art.kind as ArtifactKind,
          ...(art.phase !== undefined ? { phase: art.phase } : {}),
          key,
          contentType: art.contentType,
          bytes: art.bytes.byteLength,
          sha256: await sha256Hex(art.bytes),
          ...(art.width ? { width: art.width, height: art.height } : {}),
          ...(art.meta ? { meta: art.meta } : {}),
        });
      },
      download: async (keyOrUrl) => {
        const url = /^https?:\/\//.test(keyOrUrl) ? keyOrUrl : `${job.uploadUrl}/${keyOrUrl}`;
        const res = await signedFetch(this.opts.http, url, {
          method: "GET",
          stop: a.controller.signal,
          timeoutMs: transferTimeoutMs(this.opts.http, LARGEST_ARTIFACT_BYTES),
        });
        return new Uint8Array(await res.arrayBuffer());
      },
    };
  }

  private emit(a: Active, body: Parameters<JobEvents["send"]>[0]): Promise<void> {
    return a.events.send(body);
  }

  private finish(a: Active, status: JobRecord["status"], extra: Partial<JobRecord>): void {
    a.events.stopKeepAlive();
    Object.assign(a.record, { status, finishedAt: now(), ...extra });
    this.save(a);
  }

  /**
   * Journals a record, unless a newer attempt of its job replaced it: records are keyed by job id, and a superseded
   * attempt that ends after its successor was accepted must not overwrite the successor's record.
   */
  private save(a: Active): void {
    if (this.records.get(a.record.jobId) !== a.record) return;
    this.opts.journal.save(a.record);
  }
}

/** The keep-alive interval of a job: the shorter of the one it names and the runner's own. */
function heartbeatOf(job: RunnerJob, own: number | undefined): number | undefined {
  if (job.heartbeatMs === undefined) return own;
  return own === undefined ? job.heartbeatMs : Math.min(own, job.heartbeatMs);
}

export type { JobOutcome };
