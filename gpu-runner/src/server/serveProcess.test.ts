/**
 * SIGTERM on the real service: `accdiff serve` in its own process (toy world, cpu) runs a signed job; a SIGTERM
 * once progress arrives must hand the job back to the worker as a retryable failure and exit cleanly.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type RunnerJob, resolveRequest, signRequest } from "@accdiff/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureToyWorld } from "../toyworld/index";
import { type FakeWorker, startFakeWorker } from "./testing/fakeWorker";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const BIN = join(ROOT, "gpu-runner/bin/accdiff.mjs");
const secret = "serve-process-secret";

let worker: FakeWorker;
let child: ChildProcess | null = null;
let log = "";

beforeAll(async () => {
  await ensureToyWorld();
  worker = await startFakeWorker(secret);
}, 120_000);

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await worker?.close();
});

/** Starts `accdiff serve --port 0`; resolves with its URL (from the "runner listening" log line) once ready. */
async function serve(): Promise<string> {
  const c = spawn(process.execPath, [BIN, "serve", "--port", "0", "--host", "127.0.0.1", "--provider", "cpu"], {
    cwd: ROOT,
    env: { ...process.env, RUNNER_SECRET: secret, PORT: "", STATE_DIR: "", BUNDLE_DIR: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child = c;
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no "runner listening" line: ${log}`)), 60_000);
    c.once("exit", (code) => reject(new Error(`the runner exited (${code}): ${log}`)));
    c.stderr!.on("data", (d) => {
      log += d;
      const m = /"msg":"runner listening".*?"url":"([^"]+)"/.exec(log);
      if (m) {
        clearTimeout(t);
        resolve(m[1]);
      }
    });
  });
  for (const t0 = Date.now(); Date.now() - t0 < 60_000; await new Promise((r) => setTimeout(r, 100))) {
    if ((await fetch(`${url}/readyz`)).status === 200) return url;
  }
  throw new Error(`the runner was not ready: ${log}`);
}

describe("accdiff serve (a real process)", () => {
  it("on SIGTERM mid-job reports a retryable failure to the worker and exits 0", async () => {
    const url = await serve();
    const jobId = `job_sigterm_${Date.now()}`;
    const job: RunnerJob = {
      jobId,
      attempt: 1,
      bundleId: "toy-world",
      params: resolveRequest({
        prompt: "a cat and a dog are playing on the lawn",
        width: 1024,
        height: 1024,
        steps: 40,
      }),
      callbackUrl: `${worker.url}/internal/jobs/${jobId}/events`,
      uploadUrl: `${worker.url}/internal/jobs/${jobId}/artifacts`,
      cacheKeys: { phase1: "1".repeat(64), phases: {} },
    };
    const body = JSON.stringify(job);
    const headers = await signRequest(secret, { method: "POST", path: "/v1/jobs", body });
    expect((await fetch(`${url}/v1/jobs`, { method: "POST", body, headers })).status).toBe(202);
    await worker.waitFor((e) => e.jobId === jobId && e.type === "progress", 60_000);

    const exited = new Promise<{ code: number | null; signal: string | null }>((r) =>
      child!.once("exit", (code, signal) => r({ code, signal })),
    );
    child!.kill("SIGTERM");
    const end = await worker.waitFor(
      (e) => e.jobId === jobId && e.type !== "progress" && e.type !== "accepted",
      20_000,
    );
    expect(end).toMatchObject({ type: "failed", retryable: true, reason: "runner shutting down" });
    expect(await exited).toEqual({ code: 0, signal: null });
    // It was the last event of the attempt, in sequence.
    const evs = worker.events.filter((e) => e.jobId === jobId);
    expect(evs.map((e) => e.seq)).toEqual(evs.map((_, i) => i));
    expect(evs.at(-1)).toBe(end);
    expect(log).toMatch(/"msg":"stopped"/);
  }, 120_000);
});
