/**
 * The hand-written part of the client: what every app does with the generated one.
 *   submit   POST /v1/images with an Idempotency-Key (made up when not given), retried with the same key on network
 *            errors, 429 and 5xx, so a retry never creates a second job or bills twice.
 *   follow   a job to its end: Server-Sent Events on the job's signed `links.stream` through an EventSource (the
 *            platform's or one passed in), falling back to polling GET /v1/images/{id} when there is none or the
 *            stream fails; `onProgress` sees every state.
 *   download a file by its signed `url`; an expired link is refreshed by reading the job again (which re-signs).
 */
import createClient, { type Client } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Job = components["schemas"]["Job"];
export type JobFile = components["schemas"]["Job"]["files"][number];
export type GenerationRequest = components["schemas"]["GenerationRequest"];
export type ProgressEvent = components["schemas"]["ProgressEvent"];
export type Problem = components["schemas"]["Problem"];

/** What an EventSource implementation must offer (the browser's, React Native polyfills, the `eventsource` package). */
export interface EventSourceLike {
  readonly readyState: number;
  addEventListener(type: string, listener: (e: { data: string; lastEventId?: string }) => void): void;
  onerror: ((e: never) => void) | null;
  close(): void;
}
export type EventSourceConstructor = new (url: string) => EventSourceLike;

export interface ClientOptions {
  baseUrl: string;
  apiKey: string;
  fetch?: typeof fetch;
  /** For follow(); defaults to globalThis.EventSource when there is one. */
  EventSource?: EventSourceConstructor;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem | null,
  ) {
    super(`HTTP ${status}${problem ? `: ${problem.title}${problem.detail ? ` (${problem.detail})` : ""}` : ""}`);
  }
}

const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
const RETRYABLE = new Set([429, 500, 502, 503, 504]);

export function isFinished(job: Pick<Job, "status">): boolean {
  return FINISHED.has(job.status);
}

/** The job with a `progress` event's fields applied (the event carries no files or links). */
export function applyProgress(job: Job, p: ProgressEvent): Job {
  const { status, queuePosition, ...numbers } = p;
  return { ...job, status, queuePosition, progress: { ...job.progress, ...numbers } };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface FollowOptions {
  onProgress?: (job: Job) => void;
  /** "auto" (SSE when an EventSource exists, polling otherwise or when the stream fails), "sse" or "poll". */
  transport?: "auto" | "sse" | "poll";
  pollMs?: number;
  timeoutMs?: number;
}

export class AccdiffClient {
  /** The generated client (every operation of the document, typed). */
  readonly api: Client<paths>;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly o: ClientOptions) {
    this.fetchImpl = o.fetch ?? globalThis.fetch.bind(globalThis);
    this.api = createClient<paths>({
      baseUrl: o.baseUrl,
      headers: { authorization: `Bearer ${o.apiKey}` },
      fetch: (req: Request) => this.fetchImpl(req),
    });
  }

  async submit(
    body: GenerationRequest,
    o: { idempotencyKey?: string; waitSeconds?: number; attempts?: number } = {},
  ): Promise<{ status: 200 | 202; job: Job; idempotencyKey: string }> {
    const idempotencyKey = o.idempotencyKey ?? crypto.randomUUID();
    const headers: Record<string, string> = { "Idempotency-Key": idempotencyKey };
    if (o.waitSeconds !== undefined) headers.Prefer = `wait=${o.waitSeconds}`;
    const attempts = o.attempts ?? 4;
    for (let i = 1; ; i++) {
      let r: Awaited<ReturnType<AccdiffClient["create"]>>;
      try {
        r = await this.create(body, headers);
      } catch (e) {
        // The request may or may not have arrived: the same key makes the retry safe.
        if (i >= attempts) throw e;
        await sleep(250 * 2 ** i);
        continue;
      }
      if (r.data) return { status: r.response.status as 200 | 202, job: r.data, idempotencyKey };
      if (i >= attempts || !RETRYABLE.has(r.response.status)) {
        throw new ApiError(r.response.status, (r.error as Problem | undefined) ?? null);
      }
      const retryAfter = Number(r.response.headers.get("retry-after"));
      await sleep(Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : 250 * 2 ** i);
    }
  }

  private create(body: GenerationRequest, headers: Record<string, string>) {
    return this.api.POST("/v1/images", { body, headers });
  }

  async job(id: string): Promise<Job> {
    const r = await this.api.GET("/v1/images/{id}", { params: { path: { id } } });
    if (!r.data) throw new ApiError(r.response.status, (r.error as Problem | undefined) ?? null);
    return r.data;
  }

  /** Follows a job until it ends and returns its final state (read back with GET, links freshly signed). */
  async follow(job: Job, o: FollowOptions = {}): Promise<Job> {
    if (isFinished(job)) return job;
    const deadline = Date.now() + (o.timeoutMs ?? 30 * 60_000);
    const transport = o.transport ?? "auto";
    const Source = this.o.EventSource ?? (globalThis as { EventSource?: EventSourceConstructor }).EventSource;
    if (transport !== "poll" && Source) {
      const streamed = await this.stream(Source, job, o.onProgress, deadline);
      if (streamed === "ended") return this.job(job.id);
      if (transport === "sse") throw new Error(`the event stream of job ${job.id} failed`);
    } else if (transport === "sse") {
      throw new Error("no EventSource implementation: pass one in the client options");
    }
    return this.poll(job.id, o, deadline);
  }

  private stream(
    Source: EventSourceConstructor,
    job: Job,
    onProgress: FollowOptions["onProgress"],
    deadline: number,
  ): Promise<"ended" | "failed"> {
    return new Promise((resolve) => {
      let current = job;
      const es = new Source(job.links.stream);
      const finish = (how: "ended" | "failed") => {
        clearTimeout(timer);
        es.close();
        resolve(how);
      };
      const timer = setTimeout(() => finish("failed"), Math.max(0, deadline - Date.now()));
      es.addEventListener("job", (e) => {
        current = JSON.parse(e.data) as Job;
        onProgress?.(current);
      });
      es.addEventListener("progress", (e) => {
        current = applyProgress(current, JSON.parse(e.data) as ProgressEvent);
        onProgress?.(current);
      });
      es.addEventListener("end", () => finish("ended"));
      // An EventSource reconnects by itself (with Last-Event-ID); only one that gave up (CLOSED = 2) falls back.
      es.onerror = () => {
        if (es.readyState === 2) finish("failed");
      };
    });
  }

  private async poll(id: string, o: FollowOptions, deadline: number): Promise<Job> {
    let interval = o.pollMs ?? 1000;
    for (;;) {
      const job = await this.job(id);
      o.onProgress?.(job);
      if (isFinished(job)) return job;
      if (Date.now() > deadline) throw new Error(`job ${id} did not finish in time`);
      await sleep(interval);
      interval = Math.min(interval * 1.5, 10_000);
    }
  }

  /** A file's bytes by its signed link; an expired link is signed again by reading the job. */
  async download(job: Job, file: Pick<JobFile, "name" | "url">): Promise<Uint8Array> {
    let res = await this.fetchImpl(file.url);
    if (res.status === 401) {
      await res.body?.cancel();
      const fresh = (await this.job(job.id)).files.find((f) => f.name === file.name);
      if (!fresh) throw new ApiError(404, null);
      res = await this.fetchImpl(fresh.url);
    }
    if (res.status !== 200) {
      const problem = (await res.json().catch(() => null)) as Problem | null;
      throw new ApiError(res.status, problem);
    }
    return new Uint8Array(await res.arrayBuffer());
  }
}
