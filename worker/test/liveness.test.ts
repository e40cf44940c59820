/**
 * A dead runner is noticed before its lease runs out (jobs/liveness.ts): an attempt that missed two keep-alives is
 * probed, and re-dispatched at once when the probe proves the runner gone (connection reset, or a runner that does not
 * hold the attempt); a probe that proves nothing leaves the lease as the backstop. A runner-side cancel the user did
 * not ask for never ends the job. The clock is moved with fake Date (the Durable Object runs in the test's isolate).
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { quote, signRequest } from "@accdiff/shared";
import { afterEach, describe, expect, it, vi } from "vitest";
import { configOf } from "../src/env";
import { silenceLimitMs } from "../src/jobs/liveness";
import type { ProbeAnswer } from "./fakes/fakeRunner";
import {
  account,
  api,
  audit,
  body2x,
  expectJob,
  expireLease,
  FAKE,
  getJob,
  jobObject,
  runnerLog,
  seedOf,
  setScenario,
  testEnv,
  uniquePrompt,
  waitFor,
  waitForStatus,
} from "./jobsHelpers";

const FUNDS = 1_000_000;
const cfg = configOf(testEnv);

afterEach(() => {
  vi.useRealTimers();
});

/** A 2x job whose runner `a` finished phase 1 and then went silent, answering probes as `probe` says. */
async function silentAfterPhase1(label: string, probe?: ProbeAnswer) {
  const acct = await account(FUNDS);
  const prompt = uniquePrompt(label);
  await setScenario(prompt, {
    attempts: { "1": { mode: "silent", afterPhase: 1 } },
    ...(probe ? { probe: { a: probe } } : {}),
  });
  const job = await expectJob(await api("POST", "/v1/images", { key: acct.key, body: body2x(prompt, seedOf()) }), 202);
  await waitFor("phase 1 of attempt 1", async () => (await getJob(acct.key, job.id)).progress.phasesDone.includes(1));
  const log = await runnerLog(prompt);
  expect(log.jobs.map((j) => j.runner)).toEqual(["a"]);
  return { acct, prompt, job };
}

/** Moves the clock to just past the silence limit of the last sign of life and lets the alarm fire. */
async function afterSilence(id: string, extraMs = 1000): Promise<void> {
  vi.useFakeTimers({ toFake: ["Date"] });
  try {
    vi.setSystemTime(Date.now() + silenceLimitMs(cfg.heartbeatMs) + extraMs);
    expect(await runDurableObjectAlarm(jobObject(id))).toBe(true);
  } finally {
    vi.useRealTimers();
  }
}

describe("dead runners are noticed before the lease", () => {
  it.each([
    ["its connection is reset", "reset"],
    ["it restarted and does not hold the attempt", "unknown-attempt"],
  ] as const)("re-dispatches at once when %s, resuming and charging once", async (_, probe) => {
    const { acct, prompt, job } = await silentAfterPhase1(`dead runner ${probe}`, probe);
    const heardAt = Date.now();
    await afterSilence(job.id);
    const done = await waitForStatus(acct.key, job.id, ["succeeded", "failed", "cancelled"]);
    expect(done.status).toBe("succeeded");
    expect(done.attempt).toBe(2);
    expect(done.warnings.join(" ")).toContain("the runner is gone");
    const log = await runnerLog(prompt);
    expect(log.jobs.map((j) => [j.runner, j.job.attempt, j.job.resume?.fromPhase])).toEqual([
      ["a", 1, undefined],
      ["b", 2, 1],
    ]);
    // Re-dispatched within the silence limit of the last event, far sooner than the lease.
    expect(silenceLimitMs(cfg.heartbeatMs)).toBeLessThanOrEqual(30_000);
    expect(silenceLimitMs(cfg.heartbeatMs)).toBeLessThan(cfg.leaseMs);
    expect(log.jobs[1].receivedAt - heardAt).toBeLessThan(15_000); // real time: the probe and the dispatch
    // Two probes agreed; the dead attempt's cancel named attempt 1.
    expect(log.probes.map((p) => [p.runner, p.attempt])).toEqual([
      ["a", 1],
      ["a", 1],
    ]);
    expect(log.cancels.map((c) => [c.runner, c.attempt])).toEqual([["a", 1]]);
    expect(log.jobs[1].job.heartbeatMs).toBe(cfg.heartbeatMs);
    expect(done.result?.phasesComputed).toEqual([2]);
    const price = quote(done.request, 64, []).price;
    expect(done.billing).toEqual({ state: "captured", reserved: price, charged: price });
    expect(await audit(acct.id)).toMatchObject({ balance: FUNDS - price, reserved: 0 });
  });

  it.each([
    ["a probe that hangs", "hang"],
    ["a runner that still holds the attempt", undefined],
  ] as const)("%s changes nothing: the lease stays the backstop", async (_, probe) => {
    const { acct, prompt, job } = await silentAfterPhase1(`unproven ${probe}`, probe);
    await afterSilence(job.id);
    expect(await getJob(acct.key, job.id)).toMatchObject({ status: "running", attempt: 1 });
    expect((await runnerLog(prompt)).probes.length).toBeGreaterThan(0);
    expect((await runnerLog(prompt)).jobs).toHaveLength(1);
    // The lease runs out: the job goes to the next attempt as before.
    await expireLease(job.id);
    const after = await getJob(acct.key, job.id);
    expect(after.attempt).toBe(2);
    expect(after.warnings.join(" ")).toContain("lease expired");
    await api("DELETE", `/v1/images/${job.id}`, { key: acct.key });
  });

  it("an attempt silent for less than two keep-alives is not probed", async () => {
    const { acct, prompt, job } = await silentAfterPhase1("not yet silent", "reset");
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + cfg.heartbeatMs);
    await runDurableObjectAlarm(jobObject(job.id));
    vi.useRealTimers();
    expect(await getJob(acct.key, job.id)).toMatchObject({ status: "running", attempt: 1 });
    expect((await runnerLog(prompt)).probes).toEqual([]);
    await api("DELETE", `/v1/images/${job.id}`, { key: acct.key });
  });
});

describe("a runner-side cancel the user did not ask for", () => {
  it("re-dispatches the job instead of ending it", async () => {
    const acct = await account(FUNDS);
    const prompt = uniquePrompt("operator cancel");
    await setScenario(prompt, { attempts: { "1": { mode: "hold", afterPhase: 1 } } });
    const job = await expectJob(
      await api("POST", "/v1/images", { key: acct.key, body: body2x(prompt, seedOf()) }),
      202,
    );
    await waitFor("phase 1", async () => (await getJob(acct.key, job.id)).progress.phasesDone.includes(1));
    // Someone other than the worker stops attempt 1 on runner a: it reports `cancelled`.
    const path = `/r/a/v1/jobs/${job.id}/attempts/1/cancel`;
    const headers = await signRequest(testEnv.RUNNER_SECRET, { method: "POST", path, body: "" });
    expect((await fetch(`${FAKE}${path}`, { method: "POST", headers, body: "" })).status).toBe(202);
    const done = await waitForStatus(acct.key, job.id, ["succeeded", "failed", "cancelled"]);
    expect(done.status).toBe("succeeded");
    expect(done.attempt).toBe(2);
    expect(done.warnings.join(" ")).toContain("without the user asking");
    expect(done.result?.phasesComputed).toEqual([2]);
    expect(done.billing.charged).toBe(done.quote.price);
  });
});
