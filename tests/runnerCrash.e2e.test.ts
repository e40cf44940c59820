/**
 * A runner SIGKILLed mid-render, on loopback, with real processes: `accdiff serve` (CPU, toy world, a job journal) and
 * the worker in the local Workers runtime, with a proxy between them that holds the worker's cancel of the dead
 * attempt until the next attempt has been accepted on the restarted runner (the order that used to lose the job).
 * Asserted: the job ends `succeeded`, resumed from the phase the dead runner finished (not recomputed), charged its
 * quote once; the late cancel was refused by the runner; the re-dispatch came within 30 s of the kill, long before
 * the lease (180 s) would have run out.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureToyWorld } from "../gpu-runner/src/toyworld/index";
import { Api, type JobView } from "./demo/api";
import { type RunnerProcess, startRunnerProcess } from "./demo/runnerProcess";
import { readBundleFacts } from "./demo/stack";
import { startWorkerDev, type WorkerDev } from "./demo/workerDev";
import { type DelayingProxy, startDelayingProxy } from "./reliability/delayingProxy";

const secret = (label: string) => `${label}-${randomBytes(24).toString("hex")}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const dirs: string[] = [];
const runners: RunnerProcess[] = [];
let worker: WorkerDev | null = null;
let proxy: DelayingProxy | null = null;

interface Outcome {
  job: JobView;
  killedAt: number;
  restartedAt: number;
  redispatchedAt: number;
  doneAt: number;
  price: number;
  ledger: { kind: string; amount: number; jobId: string | null }[];
}
let outcome: Outcome;

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs: number) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

beforeAll(async () => {
  const bundle = await readBundleFacts(await ensureToyWorld());
  const runnerSecret = secret("runner");
  const adminToken = secret("admin");
  const stateDir = await mkdtemp(join(tmpdir(), "accdiff-crash-journal-"));
  const persistDir = await mkdtemp(join(tmpdir(), "accdiff-crash-worker-"));
  dirs.push(stateDir, persistDir);
  const first = await startRunnerProcess({ bundleDir: bundle.dir, secret: runnerSecret, stateDir });
  runners.push(first);
  const port = Number(new URL(first.url).port);
  proxy = await startDelayingProxy(first.url);
  worker = await startWorkerDev({
    runnerUrls: [proxy.url],
    bundleId: bundle.name,
    bundleHash: bundle.hash,
    baseResolution: bundle.baseResolution,
    adminToken,
    runnerSecret,
    urlSigningSecret: secret("urls"),
    persistDir,
  });
  const admin = new Api(worker.url, adminToken);
  const account = await admin.createAccount("crash e2e");
  await admin.credit(account, 1_000_000, "e2e");
  const api = admin.as(await admin.issueKey(account, "e2e"));
  const B = bundle.baseResolution;
  const body = { prompt: "a cat and a dog are playing on the lawn", width: 3 * B, height: 3 * B, seed: 7, steps: 5 };
  const { status, job } = await api.submit(body, "crash-3x");
  expect(status).toBe(202);

  // Phase 1 is done and stored; the runner is working on phase 2: kill it, and bring it back on its address.
  await until(
    "phase 2 under way",
    async () => {
      const j = await api.job(job.id);
      return j.progress.phasesDone.includes(1) && (j.progress.phase ?? 0) >= 2;
    },
    120_000,
  );
  const killedAt = Date.now();
  await first.kill();
  const second = await startRunnerProcess({ bundleDir: bundle.dir, secret: runnerSecret, stateDir, port });
  runners.push(second);
  const restartedAt = Date.now();

  const done = await until(
    "the job to end",
    async () => {
      const j = await api.job(job.id);
      return ["succeeded", "failed", "cancelled"].includes(j.status) ? j : null;
    },
    150_000,
  );
  const doneAt = Date.now();
  const redispatch = proxy.log.find((f) => f.path === "/v1/jobs" && f.attempt === 2 && f.status === 202);
  const usage = await api.usage();
  outcome = {
    job: done,
    killedAt,
    restartedAt,
    redispatchedAt: redispatch?.forwardedAt ?? Number.POSITIVE_INFINITY,
    doneAt,
    price: job.quote.price,
    ledger: usage.ledger.entries,
  };
  console.log(
    `runner crash: kill -> restarted ${restartedAt - killedAt} ms, -> re-dispatched ${outcome.redispatchedAt - killedAt} ms, -> done ${doneAt - killedAt} ms`,
  );
}, 290_000);

afterAll(async () => {
  for (const r of runners) await r.stop(3000).catch(() => undefined);
  await worker?.stop().catch(() => undefined);
  await proxy?.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe("a runner killed mid-render and restarted on its address", () => {
  it("ends succeeded, resumed from the phase the dead runner finished", () => {
    const { job } = outcome;
    expect(job.status).toBe("succeeded");
    expect(job.attempt).toBe(2);
    expect(job.result?.phasesComputed).not.toContain(1);
    expect(job.result?.phasesComputed).toContain(3);
    expect(job.warnings.join(" ")).toContain("the runner is gone");
  });

  it("refuses the late cancel of the dead attempt (it reached the runner after the new attempt was accepted)", () => {
    const log = proxy!.log;
    const cancels = log.filter((f) => /\/cancel$/.test(f.path));
    const accepted = log.find((f) => f.path === "/v1/jobs" && f.attempt === 2 && f.status === 202)!;
    expect(cancels.length).toBeGreaterThan(0);
    for (const c of cancels) {
      expect(c.attempt).toBe(1);
      expect(c.forwardedAt).toBeGreaterThan(accepted.forwardedAt);
      expect(c.status).toBe(404); // unknown attempt: the runner holds attempt 2
    }
  });

  it("re-dispatches within 30 s of the kill, long before the lease would have", () => {
    expect(outcome.redispatchedAt - outcome.killedAt).toBeLessThanOrEqual(30_000);
  });

  it("charges the quote once", () => {
    const { job, ledger, price } = outcome;
    expect(job.billing).toEqual({ state: "captured", reserved: price, charged: price });
    const mine = ledger.filter((e) => e.jobId === job.id);
    expect(mine.map((e) => e.kind).sort()).toEqual(["capture", "reserve"]);
    expect(mine.reduce((a, e) => a + e.amount, 0)).toBe(-price);
  });
});
