/**
 * Runner-side operations name the attempt they are for (shared/runnerApi.ts): a restarted runner that took the next
 * attempt of a job refuses a late cancel of the dead one and keeps rendering; the probe tells "holds this attempt"
 * from "does not" (never got it, restarted without it, holds another); the keep-alive follows the job's heartbeat.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type RunnerJob,
  runnerAttemptPath,
  runnerCancelPath,
  signRequest,
  UNKNOWN_ATTEMPT_TYPE,
} from "@accdiff/shared";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type FakeWorker, jobFor, startFakeWorker } from "./fakeWorker";
import { silentLogger } from "./log";
import { type RunnerService, startRunnerService } from "./serve";
import { steppingEngine } from "./steppingEngine";

const secret = "runner-attempts-secret";

let worker: FakeWorker;
const started: RunnerService[] = [];
let n = 0;

const makeJob = (over: Partial<RunnerJob> = {}) => jobFor(worker, `job_attempt_${++n}_${Date.now()}`, over);

async function call(runner: RunnerService, method: "GET" | "POST", path: string, body = "") {
  const headers = await signRequest(secret, { method, path, body: method === "GET" ? undefined : body });
  const res = await fetch(`${runner.url}${path}`, { method, headers, body: method === "GET" ? undefined : body });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

beforeEach(async () => {
  worker = await startFakeWorker(secret);
});
afterEach(async () => {
  for (const r of started.splice(0)) await r.shutdown();
  await worker.close();
});

async function start(o: Partial<Parameters<typeof startRunnerService>[0]> = {}) {
  const r = await startRunnerService({ engine: steppingEngine(40, 10), secret, log: silentLogger, ...o });
  started.push(r);
  return r;
}

describe("attempt-scoped runner operations", () => {
  it("a restarted runner refuses a late cancel of the dead attempt; the new attempt completes", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "runner-attempts-"));
    const first = await start({ stateDir, progressIntervalMs: 10 });
    const job = makeJob();
    expect((await call(first, "POST", "/v1/jobs", JSON.stringify(job))).status).toBe(202);
    await worker.waitFor((e) => e.jobId === job.jobId && e.type === "progress");
    // The "restarted" runner opens the same journal; the worker re-dispatches there as attempt 2.
    const second = await start({ stateDir, progressIntervalMs: 10 });
    expect((await call(second, "POST", "/v1/jobs", JSON.stringify({ ...job, attempt: 2 }))).status).toBe(202);
    await worker.waitFor((e) => e.jobId === job.jobId && e.attempt === 2 && e.type === "progress");

    // The worker's cancel of attempt 1 arrives only now.
    const late = await call(second, "POST", runnerCancelPath(job.jobId, 1));
    expect(late.status).toBe(404);
    expect(late.body.type).toBe(UNKNOWN_ATTEMPT_TYPE);
    const done = await worker.waitFor(
      (e) => e.jobId === job.jobId && e.attempt === 2 && (e.type === "completed" || e.type === "cancelled"),
    );
    expect(done.type).toBe("completed");
    expect(second.manager.get(job.jobId)).toMatchObject({ attempt: 2, status: "succeeded" });
    first.manager.cancel(job.jobId);
  });

  it("a cancel of the dead attempt that reaches the restarted runner first changes nothing for the next", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "runner-attempts-early-"));
    const first = await start({ stateDir, progressIntervalMs: 10 });
    const job = makeJob();
    await call(first, "POST", "/v1/jobs", JSON.stringify(job));
    await worker.waitFor((e) => e.jobId === job.jobId && e.type === "progress");
    const second = await start({ stateDir, progressIntervalMs: 10 });
    // Attempt 1 died with the old process: its cancel is taken (nothing is running) and no event is sent for it.
    expect((await call(second, "POST", runnerCancelPath(job.jobId, 1))).status).toBe(202);
    expect(second.manager.get(job.jobId)).toMatchObject({ attempt: 1, status: "failed", retryable: true });
    expect((await call(second, "POST", "/v1/jobs", JSON.stringify({ ...job, attempt: 2 }))).status).toBe(202);
    const done = await worker.waitFor(
      (e) => e.jobId === job.jobId && e.attempt === 2 && (e.type === "completed" || e.type === "cancelled"),
    );
    expect(done.type).toBe("completed");
    first.manager.cancel(job.jobId);
  });

  it("a cancel naming the attempt in hand stops it", async () => {
    const runner = await start({ progressIntervalMs: 10 });
    const job = makeJob({ attempt: 3 });
    await call(runner, "POST", "/v1/jobs", JSON.stringify(job));
    await worker.waitFor((e) => e.jobId === job.jobId && e.type === "progress");
    expect((await call(runner, "POST", runnerCancelPath(job.jobId, 2))).status).toBe(404);
    expect((await call(runner, "POST", runnerCancelPath(job.jobId, 3))).status).toBe(202);
    const ev = await worker.waitFor((e) => e.jobId === job.jobId && (e.type === "cancelled" || e.type === "completed"));
    expect(ev).toMatchObject({ type: "cancelled", attempt: 3 });
  });

  it("the probe answers the attempt's status, or unknown-attempt for one it does not hold", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "runner-probe-"));
    const runner = await start({ stateDir, progressIntervalMs: 10 });
    const job = makeJob({ attempt: 2 });
    await call(runner, "POST", "/v1/jobs", JSON.stringify(job));
    await worker.waitFor((e) => e.jobId === job.jobId && e.type === "progress");
    expect(await call(runner, "GET", runnerAttemptPath(job.jobId, 2))).toMatchObject({
      status: 200,
      body: { jobId: job.jobId, attempt: 2, status: "running" },
    });
    for (const [id, attempt] of [
      [job.jobId, 1],
      [job.jobId, 3],
      ["job_never_seen_here", 1],
    ] as const) {
      const r = await call(runner, "GET", runnerAttemptPath(id, attempt));
      expect(r.status, `${id}/${attempt}`).toBe(404);
      expect(r.body.type).toBe(UNKNOWN_ATTEMPT_TYPE);
    }
    // Restarted: the journal still names attempt 2, no longer in hand (failed, retryable).
    const restarted = await start({ stateDir });
    expect(await call(restarted, "GET", runnerAttemptPath(job.jobId, 2))).toMatchObject({
      status: 200,
      body: { attempt: 2, status: "failed", retryable: true },
    });
    runner.manager.cancel(job.jobId);
  });

  it("keeps a job alive at the heartbeat the job names, when shorter than the runner's own", async () => {
    // One phase step of 600 ms: without keep-alives the job would be silent that long.
    const runner = await start({ engine: steppingEngine(1, 600), progressIntervalMs: 1, heartbeatMs: 60_000 });
    const job = makeJob({ heartbeatMs: 100 });
    await call(runner, "POST", "/v1/jobs", JSON.stringify(job));
    await worker.waitFor((e) => e.jobId === job.jobId && e.type === "completed", 10_000);
    const times = worker.events.filter((e) => e.jobId === job.jobId).map((e) => Date.parse(e.at));
    const longest = Math.max(...times.slice(1).map((t, i) => t - times[i]));
    expect(longest).toBeLessThan(400);
  });
});
