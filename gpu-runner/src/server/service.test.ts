import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type RunnerJob, signRequest } from "@accdiff/shared";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type FakeWorker, jobFor, startFakeWorker } from "./fakeWorker";
import { silentLogger } from "./log";
import { type RunnerService, startRunnerService } from "./serve";
import { steppingEngine } from "./steppingEngine";

const secret = "runner-test-secret";

let worker: FakeWorker;
let runner: RunnerService | null = null;
let n = 0;

const makeJob = (over: Partial<RunnerJob> = {}) => jobFor(worker, `job_test_${++n}_${Date.now()}`, over);

async function post(
  path: string,
  body: string,
  opts: { now?: number; headers?: Record<string, string>; key?: string } = {},
) {
  const headers =
    opts.headers ?? (await signRequest(opts.key ?? secret, { method: "POST", path, body }, { now: opts.now }));
  return fetch(`${runner!.url}${path}`, {
    method: "POST",
    body,
    headers: { ...headers, "content-type": "application/json" },
  });
}

beforeEach(async () => {
  worker = await startFakeWorker(secret);
});
afterEach(async () => {
  await runner?.shutdown();
  runner = null;
  await worker.close();
});

describe("runner service", () => {
  it("runs a signed job to completion with an ordered event sequence and uploads", async () => {
    runner = await startRunnerService({ engine: steppingEngine(), secret, log: silentLogger, progressIntervalMs: 10 });
    const job = makeJob();
    const res = await post("/v1/jobs", JSON.stringify(job));
    expect(res.status).toBe(202);
    await worker.waitFor((e) => e.type === "completed" && e.jobId === job.jobId);
    const evs = worker.events.filter((e) => e.jobId === job.jobId);
    expect(evs.map((e) => e.seq)).toEqual(evs.map((_, i) => i));
    expect(evs[0].type).toBe("accepted");
    expect(evs.at(-1)!.type).toBe("completed");
    expect(evs.filter((e) => e.type === "progress").length).toBeGreaterThan(0);
    expect(evs.filter((e) => e.type === "artifact").map((e) => (e as { key: string }).key)).toEqual([
      "phase_image/phase-1.png",
      "phase_image/phase-2.png",
    ]);
    expect([...worker.uploads.get("phase_image/phase-2.png")!.bytes]).toEqual([2, 1, 2]);
    const status = await fetch(`${runner.url}/v1/jobs/${job.jobId}`, {
      headers: await signRequest(secret, { method: "GET", path: `/v1/jobs/${job.jobId}` }),
    });
    expect(((await status.json()) as { status: string }).status).toBe("succeeded");
  });

  it("refuses forged, expired, replayed and malformed requests, starting nothing", async () => {
    const calls = { runs: 0 };
    runner = await startRunnerService({ engine: steppingEngine(6, 15, calls), secret, log: silentLogger });
    const body = JSON.stringify(makeJob());
    expect((await post("/v1/jobs", body, { key: "wrong" })).status).toBe(401);
    expect((await post("/v1/jobs", body, { now: Date.now() - 10 * 60_000 })).status).toBe(401);
    expect((await post("/v1/jobs", body, { headers: {} })).status).toBe(401);
    const headers = await signRequest(secret, { method: "POST", path: "/v1/jobs", body: "{bad json" });
    const bad = await post("/v1/jobs", "{bad json", { headers });
    expect(bad.status).toBe(400);
    expect(bad.headers.get("content-type")).toBe("application/problem+json");
    const invalid = await post("/v1/jobs", JSON.stringify({ ...makeJob(), attempt: "one" }));
    expect(invalid.status).toBe(422);
    expect(((await invalid.json()) as { errors: { path: string }[] }).errors[0].path).toBe("attempt");
    const h = await signRequest(secret, { method: "POST", path: "/v1/jobs", body });
    expect((await post("/v1/jobs", body, { headers: h })).status).toBe(202);
    expect((await post("/v1/jobs", body, { headers: h })).status).toBe(401); // replay of the same signed request
    await runner.manager.drain();
    expect(calls.runs).toBe(1);
  });

  it("runs the same job id once", async () => {
    const calls = { runs: 0 };
    runner = await startRunnerService({ engine: steppingEngine(2, 5, calls), secret, log: silentLogger });
    const job = makeJob();
    expect((await post("/v1/jobs", JSON.stringify(job))).status).toBe(202);
    expect((await post("/v1/jobs", JSON.stringify(job))).status).toBe(200);
    await worker.waitFor((e) => e.type === "completed" && e.jobId === job.jobId);
    expect((await post("/v1/jobs", JSON.stringify(job))).status).toBe(200);
    expect(calls.runs).toBe(1);
  });

  it("answers 429 with Retry-After when the queue is full", async () => {
    runner = await startRunnerService({ engine: steppingEngine(50, 20), secret, log: silentLogger, queueCapacity: 1 });
    expect((await post("/v1/jobs", JSON.stringify(makeJob()))).status).toBe(202); // running
    expect((await post("/v1/jobs", JSON.stringify(makeJob()))).status).toBe(202); // queued
    const full = await post("/v1/jobs", JSON.stringify(makeJob()));
    expect(full.status).toBe(429);
    expect(Number(full.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  it("cancel stops a running job between model calls", async () => {
    runner = await startRunnerService({
      engine: steppingEngine(200, 10),
      secret,
      log: silentLogger,
      progressIntervalMs: 10,
    });
    const job = makeJob();
    await post("/v1/jobs", JSON.stringify(job));
    await worker.waitFor((e) => e.type === "progress" && e.jobId === job.jobId);
    const res = await post(`/v1/jobs/${job.jobId}/attempts/1/cancel`, "");
    expect(res.status).toBe(202);
    const ev = await worker.waitFor((e) => e.jobId === job.jobId && (e.type === "cancelled" || e.type === "completed"));
    expect(ev.type).toBe("cancelled");
    expect(runner.manager.get(job.jobId)!.status).toBe("cancelled");
    expect((await post("/v1/jobs/nope_nope_nope/attempts/1/cancel", "")).status).toBe(404);
  });

  it("on shutdown mid-job reports a retryable failure and refuses new jobs", async () => {
    runner = await startRunnerService({
      engine: steppingEngine(200, 10),
      secret,
      log: silentLogger,
      progressIntervalMs: 10,
    });
    const job = makeJob();
    const queued = makeJob();
    await post("/v1/jobs", JSON.stringify(job));
    await post("/v1/jobs", JSON.stringify(queued));
    await worker.waitFor((e) => e.type === "progress" && e.jobId === job.jobId);
    const stopping = runner.shutdown();
    const ev = await worker.waitFor((e) => e.jobId === job.jobId && e.type === "failed");
    expect(ev).toMatchObject({ type: "failed", retryable: true, reason: "runner shutting down" });
    expect(await worker.waitFor((e) => e.jobId === queued.jobId && e.type === "failed")).toMatchObject({
      retryable: true,
    });
    await stopping;
    runner = null;
  });

  it("a restarted runner answers for its jobs: interrupted ones are failed-retryable and run again when re-sent", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "runner-journal-"));
    const calls = { runs: 0 };
    runner = await startRunnerService({ engine: steppingEngine(200, 10, calls), secret, log: silentLogger, stateDir });
    const job = makeJob();
    await post("/v1/jobs", JSON.stringify(job));
    await worker.waitFor((e) => e.type === "accepted" && e.jobId === job.jobId);
    // Simulate a crash: a second process opens the same journal while the first never finished the job.
    const crashed = runner;
    runner = await startRunnerService({ engine: steppingEngine(2, 5, calls), secret, log: silentLogger, stateDir });
    expect(runner.manager.get(job.jobId)).toMatchObject({ status: "failed", retryable: true });
    const again = await post("/v1/jobs", JSON.stringify({ ...job, attempt: 2 }));
    expect(again.status).toBe(202);
    await worker.waitFor((e) => e.type === "completed" && e.jobId === job.jobId && e.attempt === 2);
    crashed.manager.cancel(job.jobId);
    await crashed.shutdown();
  });

  it("serves health and readiness", async () => {
    runner = await startRunnerService({ engine: steppingEngine(), secret, log: silentLogger, version: "1.2.3" });
    expect(await (await fetch(`${runner.url}/healthz`)).json()).toMatchObject({ ok: true });
    const ready = await fetch(`${runner.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ ready: true, provider: "cpu", queueDepth: 0, version: "1.2.3" });
  });
});
