/**
 * The runner service when things go wrong between it and the worker: long waits (the worker's lease must not
 * expire), a worker that refuses or cannot take events, a superseded attempt ending late, an oversized body.
 */
import { type RunnerEvent, type RunnerJob, signRequest } from "@accdiff/shared";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type FakeWorker, jobFor, startFakeWorker } from "./fakeWorker";
import { type JobRecord, memoryJournal } from "./journal";
import { silentLogger } from "./log";
import { type RunnerService, type RunnerServiceOptions, startRunnerService } from "./serve";
import { type SteppingCalls, steppingEngine } from "./steppingEngine";

const secret = "runner-faults-secret";
const FAST_RETRY = { attempts: 2, baseMs: 1, maxMs: 2 };

let worker: FakeWorker;
let runner: RunnerService | null = null;
let n = 0;

const start = async (o: Omit<RunnerServiceOptions, "secret">) => {
  runner = await startRunnerService({ secret, log: silentLogger, retry: FAST_RETRY, ...o });
  return runner;
};

const makeJob = (over: Partial<RunnerJob> = {}) => jobFor(worker, `job_fault_${++n}_${Date.now()}`, over);

async function submit(job: RunnerJob): Promise<number> {
  const body = JSON.stringify(job);
  const headers = await signRequest(secret, { method: "POST", path: "/v1/jobs", body });
  const res = await fetch(`${runner!.url}/v1/jobs`, { method: "POST", body, headers });
  return res.status;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(pred: () => boolean, timeoutMs = 5_000): Promise<void> {
  for (const t0 = Date.now(); !pred(); await sleep(10)) if (Date.now() - t0 > timeoutMs) throw new Error("timed out");
}
const eventsOf = (jobId: string) => worker.events.filter((e) => e.jobId === jobId);
const gaps = (evs: RunnerEvent[]) => evs.slice(1).map((e, i) => Date.parse(e.at) - Date.parse(evs[i].at));

beforeEach(async () => {
  worker = await startFakeWorker(secret);
});
afterEach(async () => {
  await runner?.shutdown();
  runner = null;
  await worker.close();
});

describe("keeping the worker's lease", () => {
  it("a queued job repeats `accepted` with its position; a running one is never silent for a heartbeat", async () => {
    // Two "model calls" of 500 ms per phase: the running job is silent between its progress events for that long.
    await start({ engine: steppingEngine(2, 500), heartbeatMs: 60, progressIntervalMs: 1 });
    const running = makeJob();
    const queued = makeJob();
    expect(await submit(running)).toBe(202);
    expect(await submit(queued)).toBe(202);
    await worker.waitFor((e) => e.jobId === running.jobId && e.type === "progress" && e.step === 2, 10_000);
    await worker.waitFor((e) => e.jobId === running.jobId && e.type === "progress" && e.phase === 2, 10_000);

    const waiting = eventsOf(queued.jobId);
    expect(waiting.length).toBeGreaterThanOrEqual(5);
    expect(waiting.map((e) => e.seq)).toEqual(waiting.map((_, i) => i));
    for (const e of waiting) expect(e).toMatchObject({ type: "accepted", queuePosition: 1 });

    const ran = eventsOf(running.jobId);
    expect(ran.map((e) => e.seq)).toEqual(ran.map((_, i) => i));
    expect(Math.max(...gaps(ran))).toBeLessThan(400); // silent for a whole step (500 ms) without keep-alive
    // Before its first progress the running job says it is at the head of the queue; after it, it repeats its step.
    const first = ran.findIndex((e) => e.type === "progress");
    expect(ran.slice(0, first).length).toBeGreaterThanOrEqual(3);
    for (const e of ran.slice(0, first)) expect(e).toMatchObject({ type: "accepted" });
    const repeats = ran.slice(first).filter((e) => e.type === "progress" && e.step === 1 && e.phase === 1);
    expect(repeats.length).toBeGreaterThanOrEqual(3);
  }, 20_000);
});

describe("events the worker does not take", () => {
  it("stops a running job whose event the worker refused (410), sending nothing after it", async () => {
    const calls: SteppingCalls = { runs: 0 };
    const svc = await start({ engine: steppingEngine(500, 10, calls), progressIntervalMs: 1 });
    const job = makeJob();
    await submit(job);
    await worker.waitFor((e) => e.jobId === job.jobId && e.type === "progress");
    worker.answer = (method, path) => (method === "POST" && path.includes(job.jobId) ? 410 : undefined);
    await until(() => svc.manager.get(job.jobId)?.status === "failed");
    expect(svc.manager.get(job.jobId)).toMatchObject({
      retryable: true,
      reason: expect.stringMatching(/events could not be delivered/),
    });
    const stepsAtStop = calls.steps!;
    const delivered = eventsOf(job.jobId).length;
    await sleep(100);
    expect(calls.steps).toBe(stepsAtStop); // the engine was aborted
    expect(stepsAtStop).toBeLessThan(500);
    expect(svc.manager.depth).toBe(0);
    worker.answer = null;
    await sleep(50);
    expect(eventsOf(job.jobId).length).toBe(delivered);
  });

  it("drops a queued job whose `accepted` cannot be delivered; the jobs behind it still run", async () => {
    const calls: SteppingCalls = { runs: 0 };
    const svc = await start({ engine: steppingEngine(3, 20, calls) });
    const first = makeJob();
    const lost = makeJob();
    const last = makeJob();
    worker.answer = (method, path) => (method === "POST" && path.includes(lost.jobId) ? 503 : undefined);
    await submit(first);
    await submit(lost);
    await submit(last);
    await worker.waitFor((e) => e.jobId === last.jobId && e.type === "completed");
    expect(svc.manager.get(lost.jobId)).toMatchObject({ status: "failed", retryable: true });
    expect(calls.runs).toBe(2);
    expect(eventsOf(lost.jobId)).toEqual([]);
  });
});

describe("a job whose `completed` the worker never took", () => {
  /** The worker refuses (503) every event on `path` once the job's last artifact event arrived: `completed` is lost. */
  const loseCompleted = (job: RunnerJob, path = job.callbackUrl) => {
    const eventsPath = new URL(path).pathname;
    worker.answer = (method, p) =>
      method === "POST" &&
      p === eventsPath &&
      eventsOf(job.jobId).some((e) => e.type === "artifact" && e.phase === 2 && e.attempt === job.attempt)
        ? 503
        : undefined;
  };
  const triedCompleted = (svc: RunnerService, job: RunnerJob) => () =>
    svc.manager.get(job.jobId)?.status === "succeeded";

  it("runs a newer attempt anew, and answers the attempt after a delivered `completed` as a duplicate", async () => {
    const calls: SteppingCalls = { runs: 0 };
    const svc = await start({ engine: steppingEngine(2, 5, calls) });
    const job = makeJob();
    loseCompleted(job);
    expect(await submit(job)).toBe(202);
    await until(triedCompleted(svc, job));
    await sleep(50); // every retry of `completed` spent
    expect(eventsOf(job.jobId).map((e) => e.type)).not.toContain("completed");
    worker.answer = null;

    // The worker's lease re-dispatched it: the runner must not answer "already done" and stay silent.
    expect(await submit({ ...job, attempt: 2 })).toBe(202);
    const done = await worker.waitFor((e) => e.jobId === job.jobId && e.attempt === 2 && e.type === "completed");
    expect(done.seq).toBeGreaterThan(0);
    const second = eventsOf(job.jobId).filter((e) => e.attempt === 2);
    expect(second.map((e) => e.seq)).toEqual(second.map((_, i) => i));
    expect(second.filter((e) => e.type === "artifact")).toHaveLength(2);
    expect(calls.runs).toBe(2);
    await until(() => svc.manager.depth === 0);

    // This time the worker took `completed`: a later attempt is the duplicate it always was.
    expect(await submit({ ...job, attempt: 3 })).toBe(200);
    await sleep(50);
    expect(calls.runs).toBe(2);
    expect(eventsOf(job.jobId).filter((e) => e.attempt === 3)).toEqual([]);
  });

  it("runs anew an attempt that arrives while `completed` of the previous one is still being retried", async () => {
    const calls: SteppingCalls = { runs: 0 };
    const svc = await start({ engine: steppingEngine(2, 5, calls), retry: { attempts: 100, baseMs: 10, maxMs: 10 } });
    const job = makeJob();
    loseCompleted(job);
    await submit(job);
    await until(triedCompleted(svc, job));
    // The lease expired meanwhile; attempt 2 reports on its own path so the fake can keep refusing attempt 1.
    const callbackUrl = `${worker.url}/internal/jobs/${job.jobId}/attempt-2/events`;
    expect(await submit({ ...job, attempt: 2, callbackUrl })).toBe(202);
    await worker.waitFor((e) => e.jobId === job.jobId && e.attempt === 2 && e.type === "completed");
    expect(calls.runs).toBe(2);
    expect(svc.manager.get(job.jobId)).toMatchObject({ attempt: 2, status: "succeeded" });
    worker.answer = null;
  });

  it("remembers across a restart that `completed` was not delivered", async () => {
    const journal = memoryJournal();
    const calls: SteppingCalls = { runs: 0 };
    const first = await start({ engine: steppingEngine(2, 5, calls), journal });
    const job = makeJob();
    loseCompleted(job);
    await submit(job);
    await until(triedCompleted(first, job));
    await first.shutdown();
    worker.answer = null;

    await start({ engine: steppingEngine(2, 5, calls), journal });
    expect(await submit({ ...job, attempt: 2 })).toBe(202);
    await worker.waitFor((e) => e.jobId === job.jobId && e.attempt === 2 && e.type === "completed");
    expect(calls.runs).toBe(2);
  });
});

describe("a superseded attempt", () => {
  it("never overwrites the journal record of the attempt that replaced it", async () => {
    const saves: JobRecord[] = [];
    const mem = memoryJournal();
    const journal = {
      load: mem.load,
      save(r: JobRecord) {
        saves.push({ ...r });
        mem.save(r);
      },
    };
    const svc = await start({ engine: steppingEngine(200, 10), journal, progressIntervalMs: 1 });
    const job = makeJob();
    await submit(job);
    await worker.waitFor((e) => e.jobId === job.jobId && e.type === "progress");
    expect(await submit({ ...job, attempt: 2 })).toBe(202);
    // Attempt 1 ends (cancelled) after attempt 2 was accepted; attempt 2 then runs.
    await worker.waitFor((e) => e.jobId === job.jobId && e.attempt === 1 && e.type === "cancelled");
    await worker.waitFor((e) => e.jobId === job.jobId && e.attempt === 2 && e.type === "progress");
    const firstOf2 = saves.findIndex((r) => r.attempt === 2);
    expect(firstOf2).toBeGreaterThan(0);
    expect(saves.slice(firstOf2).map((r) => r.attempt)).not.toContain(1);
    expect(mem.load().find((r) => r.jobId === job.jobId)).toMatchObject({ attempt: 2, status: "running" });
    await svc.manager.drain();
  });
});

describe("request bodies", () => {
  it("answers 413 to a chunked body past the limit without reading it to the end", async () => {
    const calls: SteppingCalls = { runs: 0 };
    await start({ engine: steppingEngine(2, 5, calls), maxBodyBytes: 10_000 });
    const stop = new AbortController();
    // Without Content-Length, and endless: a server that buffers before checking never answers.
    const body = new ReadableStream<Uint8Array>({
      async pull(ctl) {
        await sleep(1);
        ctl.enqueue(new Uint8Array(1000).fill(32));
      },
    });
    // Signature headers that pass the checks made before the body (the signature itself cannot match).
    const headers = await signRequest(secret, { method: "POST", path: "/v1/jobs", body: "x" });
    const send = (h: Record<string, string>) =>
      Promise.race([
        fetch(`${runner!.url}/v1/jobs`, {
          method: "POST",
          body,
          headers: h,
          duplex: "half",
          signal: stop.signal,
        } as RequestInit),
        sleep(5_000).then(() => null),
      ]);
    const res = await send(headers);
    stop.abort();
    expect(res?.status).toBe(413);
    expect(res?.headers.get("content-type")).toBe("application/problem+json");
    expect(calls.runs).toBe(0);
    // A signed job within the limit is still read whole.
    expect(await submit(makeJob())).toBe(202);
  });

  it("answers 401 to an unsigned body before reading any of it", async () => {
    await start({ engine: steppingEngine(2, 5) });
    const pulled = { bytes: 0 };
    const body = new ReadableStream<Uint8Array>({
      async pull(ctl) {
        await sleep(1);
        pulled.bytes += 64 * 1024;
        ctl.enqueue(new Uint8Array(64 * 1024));
      },
    });
    const stop = new AbortController();
    const res = await fetch(`${runner!.url}/v1/jobs`, {
      method: "POST",
      body,
      duplex: "half",
      signal: stop.signal,
    } as RequestInit);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { detail: string }).detail).toBe("missing signature headers");
    stop.abort();
    expect(pulled.bytes).toBeLessThan(2 * 1024 * 1024);
  });
});
