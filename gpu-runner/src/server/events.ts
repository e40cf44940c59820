/**
 * A job's event stream to the worker: sequence numbers, in-order delivery, progress throttling, keep-alive.
 * Every event of an attempt gets seq = 0, 1, 2, ... and is delivered after the previous one was accepted, so the
 * worker sees them in order; duplicates (a retry whose first try did arrive) are harmless by seq.
 *
 * The worker holds a lease on the attempt that every event renews; an attempt silent for a whole lease is presumed
 * dead and re-dispatched. So while a job waits in the queue, or sits in one long model call or upload, the stream
 * repeats itself (keepAlive) at least every `heartbeatMs`.
 *
 * An event that cannot be delivered after every retry ends the stream: nothing after it is sent (the worker would
 * only buffer later events forever, waiting for the missing seq), and `onUndeliverable` lets the job manager stop
 * the job; the worker's lease then re-dispatches it.
 */
import type { RunnerEvent } from "@accdiff/shared";
import { type SignedHttp, signedFetch } from "./http";

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;
export type EventBody = DistributiveOmit<RunnerEvent, "jobId" | "attempt" | "seq" | "at">;
export type ProgressBody = Extract<EventBody, { type: "progress" }>;

/** The worker probes a runner that misses two keep-alives (its default HEARTBEAT_SECONDS is the same 10 s). */
export const DEFAULT_HEARTBEAT_MS = 10_000;

export interface JobEventsOptions {
  /** At most one progress event per this interval (default 250 ms). */
  progressIntervalMs?: number;
  /** The longest silence keepAlive allows (default DEFAULT_HEARTBEAT_MS). */
  heartbeatMs?: number;
  /** Called once, when an event could not be delivered after every retry. */
  onUndeliverable?: (event: RunnerEvent, error: unknown) => void;
}

export class JobEvents {
  private seq = 0;
  private chain: Promise<void> = Promise.resolve();
  private pendingProgress: ProgressBody | null = null;
  private lastProgressBody: ProgressBody | null = null;
  private lastProgressAt = 0;
  private progressTimer: ReturnType<typeof setTimeout> | null = null;
  private lastEnqueuedAt = Date.now();
  private heartbeatTimer: ReturnType<typeof setTimeout> | null = null;
  private heartbeatBody: (() => EventBody) | null = null;
  private readonly progressIntervalMs: number;
  private readonly heartbeatMs: number;
  /** The event that could not be delivered after every retry; nothing is sent after it. */
  undelivered: RunnerEvent | null = null;

  constructor(
    private readonly job: { jobId: string; attempt: number; callbackUrl: string },
    private readonly http: SignedHttp,
    private readonly opts: JobEventsOptions = {},
  ) {
    this.progressIntervalMs = opts.progressIntervalMs ?? 250;
    this.heartbeatMs = opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  }

  /** Queues an event; resolves when it (and all before it) were delivered or given up on. */
  send(body: EventBody): Promise<void> {
    if (this.undelivered) return Promise.resolve();
    if (body.type !== "progress") this.flushProgressNow();
    return this.enqueue(body);
  }

  /** At most one progress event per interval; the latest one always goes out eventually. */
  progress(p: Omit<ProgressBody, "type">): void {
    if (this.undelivered) return;
    this.pendingProgress = { type: "progress", ...p };
    const wait = this.lastProgressAt + this.progressIntervalMs - Date.now();
    if (wait <= 0) {
      this.flushProgressNow();
    } else if (!this.progressTimer) {
      this.progressTimer = setTimeout(() => this.flushProgressNow(), wait);
      this.progressTimer.unref?.();
    }
  }

  /** The latest progress sent, if any (a keep-alive repeats it: the job is still at that step). */
  get lastProgress(): ProgressBody | null {
    return this.lastProgressBody;
  }

  /**
   * From now on, whenever nothing was sent for `heartbeatMs`, sends `body()` (evaluated then, e.g. the current queue
   * position). Replaces an earlier keep-alive; stopped by stopKeepAlive or an undeliverable event.
   */
  keepAlive(body: () => EventBody): void {
    this.heartbeatBody = body;
    if (!this.heartbeatTimer) this.armHeartbeat();
  }

  stopKeepAlive(): void {
    this.heartbeatBody = null;
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  /** Waits until everything queued so far was delivered (or given up on). */
  async flush(): Promise<void> {
    this.flushProgressNow();
    await this.chain;
  }

  private armHeartbeat(): void {
    const wait = Math.max(0, this.lastEnqueuedAt + this.heartbeatMs - Date.now());
    this.heartbeatTimer = setTimeout(() => {
      this.heartbeatTimer = null;
      if (!this.heartbeatBody || this.undelivered) return;
      // Re-armed from the last event rather than on every event: progress at several per second costs no timers.
      if (Date.now() - this.lastEnqueuedAt >= this.heartbeatMs) void this.send(this.heartbeatBody());
      this.armHeartbeat();
    }, wait);
    this.heartbeatTimer.unref?.();
  }

  private flushProgressNow(): void {
    if (this.progressTimer) clearTimeout(this.progressTimer);
    this.progressTimer = null;
    const p = this.pendingProgress;
    if (!p || this.undelivered) return;
    this.pendingProgress = null;
    this.lastProgressAt = Date.now();
    this.lastProgressBody = p;
    void this.enqueue(p);
  }

  private enqueue(body: EventBody): Promise<void> {
    this.lastEnqueuedAt = Date.now();
    const event = {
      ...body,
      jobId: this.job.jobId,
      attempt: this.job.attempt,
      seq: this.seq++,
      at: new Date().toISOString(),
    } as RunnerEvent;
    this.chain = this.chain.then(async () => {
      if (this.undelivered) return;
      try {
        await signedFetch(this.http, this.job.callbackUrl, {
          method: "POST",
          body: JSON.stringify(event),
          contentType: "application/json",
        });
      } catch (e) {
        this.undelivered = event;
        this.pendingProgress = null;
        this.stopKeepAlive();
        this.http.log.error("event not delivered: no further events for this attempt", {
          jobId: this.job.jobId,
          attempt: this.job.attempt,
          seq: event.seq,
          type: event.type,
          error: String(e),
        });
        this.opts.onUndeliverable?.(event, e);
      }
    });
    return this.chain;
  }
}
