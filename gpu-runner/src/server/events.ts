/**
 * A job's event stream to the worker: sequence numbers, in-order delivery, progress throttling.
 * Every event of an attempt gets seq = 0, 1, 2, ... and is delivered after the previous one was accepted, so the
 * worker sees them in order; duplicates (a retry whose first try did arrive) are harmless by seq.
 */
import type { RunnerEvent } from "@accdiff/shared";
import { type SignedHttp, signedFetch } from "./http";

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;
export type EventBody = DistributiveOmit<RunnerEvent, "jobId" | "attempt" | "seq" | "at">;
type ProgressBody = Extract<EventBody, { type: "progress" }>;

export class JobEvents {
  private seq = 0;
  private chain: Promise<void> = Promise.resolve();
  private pendingProgress: ProgressBody | null = null;
  private lastProgressAt = 0;
  private progressTimer: ReturnType<typeof setTimeout> | null = null;
  /** Events that could not be delivered after every retry. */
  readonly undelivered: RunnerEvent[] = [];

  constructor(
    private readonly job: { jobId: string; attempt: number; callbackUrl: string },
    private readonly http: SignedHttp,
    private readonly progressIntervalMs = 250,
  ) {}

  /** Queues an event; resolves when it (and all before it) were delivered or given up on. */
  send(body: EventBody): Promise<void> {
    if (body.type !== "progress") this.flushProgressNow();
    return this.enqueue(body);
  }

  /** At most one progress event per interval; the latest one always goes out eventually. */
  progress(p: Omit<ProgressBody, "type">): void {
    this.pendingProgress = { type: "progress", ...p };
    const wait = this.lastProgressAt + this.progressIntervalMs - Date.now();
    if (wait <= 0) {
      this.flushProgressNow();
    } else if (!this.progressTimer) {
      this.progressTimer = setTimeout(() => this.flushProgressNow(), wait);
      this.progressTimer.unref?.();
    }
  }

  /** Waits until everything queued so far was delivered. */
  async flush(): Promise<void> {
    this.flushProgressNow();
    await this.chain;
  }

  private flushProgressNow(): void {
    if (this.progressTimer) clearTimeout(this.progressTimer);
    this.progressTimer = null;
    const p = this.pendingProgress;
    if (!p) return;
    this.pendingProgress = null;
    this.lastProgressAt = Date.now();
    void this.enqueue(p);
  }

  private enqueue(body: EventBody): Promise<void> {
    const event = {
      ...body,
      jobId: this.job.jobId,
      attempt: this.job.attempt,
      seq: this.seq++,
      at: new Date().toISOString(),
    } as RunnerEvent;
    this.chain = this.chain.then(async () => {
      try {
        await signedFetch(this.http, this.job.callbackUrl, {
          method: "POST",
          body: JSON.stringify(event),
          contentType: "application/json",
        });
      } catch (e) {
        this.undelivered.push(event);
        this.http.log.error("event not delivered", {
          jobId: this.job.jobId,
          seq: event.seq,
          type: event.type,
          error: String(e),
        });
      }
    });
    return this.chain;
  }
}
