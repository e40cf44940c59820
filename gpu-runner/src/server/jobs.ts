/**
 * One job at a time per GPU, a bounded queue behind it, idempotent job ids, cancellation and graceful drain.
 */
import type { ArtifactKind, RunnerJob } from "@accdiff/shared";
import { sha256Hex } from "@accdiff/shared";
import type { JobEngine, JobHooks, JobOutcome } from "./engine";
import { JobEvents } from "./events";
import { type SignedHttp, signedFetch } from "./http";
import type { JobRecord, Journal } from "./journal";

export interface JobManagerOptions {
  engine: JobEngine;
  http: SignedHttp;
  journal: Journal;
  /** Jobs waiting behind the running one. */
  queueCapacity: number;
  progressIntervalMs?: number;
}

interface Active {
  record: JobRecord;
  job: RunnerJob;
  controller: AbortController;
  events: JobEvents;
  /** Why the job was aborted, when it was. */
  abortReason?: "cancel" | "shutdown";
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
      // The same attempt again, or any attempt of a job that succeeded here: nothing new to do.
      if (existing.attempt >= job.attempt || existing.status === "succeeded")
        return { kind: "duplicate", record: existing };
      // A newer attempt supersedes an older one still in hand (the worker gave up on it); a failed or cancelled
      // job (a runner restart included) runs anew.
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
      events: new JobEvents(job, this.opts.http, this.opts.progressIntervalMs),
    };
    this.records.set(job.jobId, record);
    this.save(active);
    this.queue.push(active);
    const queuePosition = this.queue.length - 1 + (this.current ? 1 : 0);
    void this.emit(active, { type: "accepted", queuePosition });
    this.wake?.();
    return { kind: "accepted", record, queuePosition };
  }

  /** Cancels a queued job at once, a running one between model calls. */
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
    const started = Date.now();
    try {
      const outcome = await this.opts.engine.run(a.job, this.hooks(a));
      if (a.controller.signal.aborted) throw a.controller.signal.reason;
      this.finish(a, "succeeded", {});
      await this.emit(a, { type: "completed", ...outcome });
      this.avgJobMs.value = 0.7 * this.avgJobMs.value + 0.3 * (Date.now() - started);
    } catch (e) {
      const phasesCompleted = [...a.record.phasesCompleted];
      if (a.abortReason === "cancel") {
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
        const res = await signedFetch(this.opts.http, url, { method: "GET", stop: a.controller.signal });
        return new Uint8Array(await res.arrayBuffer());
      },
    };
  }

  private emit(a: Active, body: Parameters<JobEvents["send"]>[0]): Promise<void> {
    return a.events.send(body);
  }

  private finish(a: Active, status: JobRecord["status"], extra: Partial<JobRecord>): void {
    Object.assign(a.record, { status, finishedAt: now(), ...extra });
    this.save(a);
  }

  private save(a: Active): void {
    this.opts.journal.save(a.record);
  }
}

export type { JobOutcome };
