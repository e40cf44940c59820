/**
 * Dispatch to the runner pool: busy runners are skipped, a silent runner's job is re-dispatched from the deepest phase
 * it reached (never completed twice, never billed twice), retryable failures retry, final ones release the money.
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { FAILURE_MESSAGES, quote, renderPhases } from "@accdiff/shared";
import { describe, expect, it } from "vitest";
import { configOf } from "../src/env";
import {
  account,
  api,
  audit,
  body2x,
  body4x,
  expectJob,
  expireLease,
  getJob,
  jobObject,
  postEvent,
  runnerLog,
  seedOf,
  setScenario,
  testEnv,
  uniquePrompt,
  waitFor,
  waitForStatus,
} from "./jobsHelpers";

const FUNDS = 1_000_000;

async function submit(key: string, prompt: string, phases: 2 | 4 = 2) {
  const body = phases === 4 ? body4x(prompt, seedOf()) : body2x(prompt, seedOf());
  return expectJob(await api("POST", "/v1/images", { key, body }), 202);
}

describe("dispatch", () => {
  it("skips a runner that answers 503 and uses the next one", async () => {
    const acct = await account(FUNDS);
    const prompt = uniquePrompt("busy runner");
    await setScenario(prompt, { refuse: { a: 503 } });
    const job = await submit(acct.key, prompt);
    expect((await waitForStatus(acct.key, job.id, ["succeeded", "failed"])).status).toBe("succeeded");
    const log = await runnerLog(prompt);
    expect(log.refusals.map((r) => r.runner)).toEqual(["a"]);
    expect(log.jobs.map((j) => j.runner)).toEqual(["b"]);
  });

  it("keeps a job queued while every runner is busy, then dispatches it", async () => {
    const acct = await account(FUNDS);
    const prompt = uniquePrompt("all busy");
    await setScenario(prompt, { refuse: { a: 429, b: 503 } });
    const job = await submit(acct.key, prompt);
    await waitFor("a refused round", async () => (await runnerLog(prompt)).refusals.length >= 2);
    expect((await getJob(acct.key, job.id)).status).toBe("queued");
    await setScenario(prompt, {});
    await runDurableObjectAlarm(jobObject(job.id));
    expect((await waitForStatus(acct.key, job.id, ["succeeded", "failed"])).status).toBe("succeeded");
    const log = await runnerLog(prompt);
    expect(log.jobs).toHaveLength(1);
    expect(log.jobs[0].job.attempt).toBe(1);
  });

  it("a dispatch that times out is cancelled at that runner before the next one gets a new attempt", async () => {
    const acct = await account(FUNDS);
    const prompt = uniquePrompt("late answer");
    // Runner a takes attempt 1 and starts it (its `accepted` arrives) but answers the POST only after the worker's
    // dispatch timeout; told to cancel, it reports `cancelled` for attempt 1.
    await setScenario(prompt, {
      slowAccept: { a: 3 * configOf(testEnv).dispatchTimeoutMs },
      attempts: { "1": { mode: "hold", afterPhase: 0 } },
    });
    const job = await submit(acct.key, prompt);
    const done = await waitForStatus(acct.key, job.id, ["succeeded", "failed", "cancelled"]);
    expect(done.status).toBe("succeeded");
    expect(done.attempt).toBe(2);
    expect(done.warnings.join(" ")).toContain("timed out");
    const log = await runnerLog(prompt);
    expect(log.jobs.map((j) => [j.runner, j.job.attempt])).toEqual([
      ["a", 1],
      ["b", 2],
    ]);
    // The cancel reached a before b was sent anything.
    expect(log.cancels.map((c) => c.runner)).toEqual(["a"]);
    expect(log.cancels[0].at).toBeLessThanOrEqual(log.jobs[1].receivedAt);
    // a's events of the abandoned attempt could not touch the job: its `cancelled` was refused as superseded.
    await waitFor("a's cancelled event", async () => (await runnerLog(prompt)).jobs[0].finished);
    const a = (await runnerLog(prompt)).jobs[0].deliveries;
    expect(a.map((d) => [d.type, d.status])).toEqual([
      ["accepted", 200],
      ["cancelled", 410],
    ]);
    const after = await getJob(acct.key, job.id);
    expect(after.status).toBe("succeeded");
    const price = quote(renderPhases(done.request, 64), []).price;
    expect(after.billing).toEqual({ state: "captured", reserved: price, charged: price });
    expect(await audit(acct.id)).toMatchObject({ balance: FUNDS - price, reserved: 0 });
  });

  it("re-dispatches a silent runner's job from the deepest phase it finished, completing and billing once", async () => {
    const acct = await account(FUNDS);
    const prompt = uniquePrompt("silent runner");
    await setScenario(prompt, { attempts: { "1": { mode: "silent", afterPhase: 2 } } });
    const job = await submit(acct.key, prompt, 4);
    await waitFor("phase 2 of attempt 1", async () => {
      const j = await getJob(acct.key, job.id);
      return j.progress.phasesDone.includes(2) && (await runnerLog(prompt)).jobs[0]?.uploads.length === 8;
    });
    // The lease runs out (the alarm is the lease deadline): attempt 2 goes out, resuming from phase 2.
    expect(await expireLease(job.id)).toBe(true);
    const done = await waitForStatus(acct.key, job.id, ["succeeded", "failed"]);
    expect(done.status).toBe("succeeded");
    expect(done.attempt).toBe(2);
    expect(done.warnings.join(" ")).toContain("lease expired");
    const log = await runnerLog(prompt);
    expect(log.jobs.map((j) => j.job.attempt)).toEqual([1, 2]);
    expect(log.jobs[1].job.resume?.fromPhase).toBe(2);
    expect(log.jobs[1].runner).not.toBe(log.jobs[0].runner);
    expect(log.cancels.map((c) => c.runner)).toEqual([log.jobs[0].runner]);
    expect(log.jobs[0].deliveries.some((d) => d.type === "completed")).toBe(false);
    expect(done.result?.phasesComputed).toEqual([3, 4]);
    // Phases 1-2 were computed by this job (attempt 1): billed as computed, once.
    const price = quote(renderPhases(done.request, 64), []).price;
    expect(done.billing).toEqual({ state: "captured", reserved: price, charged: price });
    expect(await audit(acct.id)).toMatchObject({ balance: FUNDS - price, reserved: 0 });

    // The presumed-dead runner wakes up: its events are refused, nothing changes.
    const late = await postEvent(job.id, {
      type: "progress",
      attempt: 1,
      seq: 100,
      phase: 3,
      step: 1,
      steps: 1,
      percent: 1,
    });
    expect(late.status).toBe(200); // the job has ended: acknowledged and ignored
    expect(await late.json()).toMatchObject({ result: "ignored" });
    expect(await audit(acct.id)).toMatchObject({ balance: FUNDS - price, reserved: 0 });
  });

  it("refuses a superseded attempt's events while the next attempt runs", async () => {
    const acct = await account(FUNDS);
    const prompt = uniquePrompt("superseded");
    await setScenario(prompt, {
      attempts: { "1": { mode: "silent", afterPhase: 0 }, "2": { mode: "hold", afterPhase: 0 } },
    });
    const job = await submit(acct.key, prompt);
    await waitFor(
      "attempt 1",
      async () => (await runnerLog(prompt)).jobs.length === 1 && (await getJob(acct.key, job.id)).status === "running",
    );
    await expireLease(job.id);
    await waitFor("attempt 2 accepted", async () => (await runnerLog(prompt)).jobs[1]?.deliveries.length === 1);
    const stale = await postEvent(job.id, {
      type: "progress",
      attempt: 1,
      seq: 1,
      phase: 1,
      step: 1,
      steps: 1,
      percent: 50,
    });
    expect(stale.status).toBe(410);
    expect((await getJob(acct.key, job.id)).progress.percent).toBe(0);
    await api("DELETE", `/v1/images/${job.id}`, { key: acct.key });
  });

  it("retries a retryable failure on the next attempt", async () => {
    const acct = await account(FUNDS);
    const prompt = uniquePrompt("retryable");
    await setScenario(prompt, { attempts: { "1": { mode: "fail", afterPhase: 1, retryable: true } } });
    const job = await submit(acct.key, prompt);
    const done = await waitForStatus(acct.key, job.id, ["succeeded", "failed"]);
    expect(done.status).toBe("succeeded");
    expect(done.attempt).toBe(2);
    expect(done.result?.phasesComputed).toEqual([2]);
    expect((await runnerLog(prompt)).jobs[1].job.resume?.fromPhase).toBe(1);
  });

  it("a final failure releases the reservation: the balance is as it was", async () => {
    const acct = await account(FUNDS);
    const prompt = uniquePrompt("fatal");
    await setScenario(prompt, {
      attempts: { "1": { mode: "fail", afterPhase: 1, retryable: false, code: "unsupported_size" } },
    });
    const job = await submit(acct.key, prompt);
    const done = await waitForStatus(acct.key, job.id, ["succeeded", "failed"]);
    expect(done.status).toBe("failed");
    // The user sees the stable code and its sentence; the runner's own text only in debug.
    expect(done.error).toEqual({
      code: "unsupported_size",
      message: FAILURE_MESSAGES.unsupported_size,
      retryable: false,
    });
    expect(done.debug).toEqual({ reason: "fake failure" });
    expect(done.billing).toEqual({ state: "released", reserved: done.quote.price, charged: 0 });
    expect(await audit(acct.id)).toMatchObject({ balance: FUNDS, reserved: 0 });
  });

  it("gives up after the configured number of attempts", async () => {
    const acct = await account(FUNDS);
    const prompt = uniquePrompt("hopeless");
    const fail = { mode: "fail" as const, afterPhase: 0, retryable: true, code: "out_of_memory" as const };
    await setScenario(prompt, { attempts: { "1": fail, "2": fail, "3": fail, "4": fail } });
    const job = await submit(acct.key, prompt);
    const done = await waitForStatus(acct.key, job.id, ["succeeded", "failed"]);
    expect(done.status).toBe("failed");
    expect(done.attempt).toBe(4);
    expect(done.error).toMatchObject({ code: "out_of_memory", retryable: true });
    expect(done.debug?.reason).toContain("gave up after 4 attempts");
    expect(await audit(acct.id)).toMatchObject({ balance: FUNDS, reserved: 0 });
  });
});
