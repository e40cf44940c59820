/**
 * The lease while a runner keeps a job in its queue: the runner re-sends `accepted` (next seq, current position) about
 * once a minute, and every one of them renews the lease, so a job that waits longer than a lease is not re-dispatched;
 * the lease is a deadline, so an alarm that fires before it (a renewal raced the alarm) changes nothing. The clock is
 * moved with fake Date (the Durable Object runs in the test's isolate); events are signed at the faked time.
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { configOf } from "../src/env";
import {
  account,
  api,
  body2x,
  expectJob,
  getJob,
  jobObject,
  postEvent,
  runnerLog,
  seedOf,
  setScenario,
  testEnv,
  uniquePrompt,
  waitFor,
} from "./jobsHelpers";

const FUNDS = 1_000_000;
const LEASE = configOf(testEnv).leaseMs;

afterEach(() => {
  vi.useRealTimers();
});

/** Posts an event signed at the (possibly faked) current time. */
async function event(jobId: string, e: Record<string, unknown>) {
  const res = await postEvent(jobId, { at: new Date().toISOString(), ...e }, { now: Date.now() });
  expect(res.status, JSON.stringify(e)).toBe(200);
}

describe("lease while queued on the runner", () => {
  it("periodic accepted events keep a job queued longer than a lease without a re-dispatch", async () => {
    const acct = await account(FUNDS);
    const prompt = uniquePrompt("queued long");
    // Attempt 1 is accepted at queue position 3, then the test plays the runner from seq 1.
    await setScenario(prompt, {
      attempts: { "1": { mode: "silent", afterPhase: 0, queuePosition: 3 }, "2": { mode: "silent", afterPhase: 0 } },
    });
    const job = await expectJob(
      await api("POST", "/v1/images", { key: acct.key, body: body2x(prompt, seedOf()) }),
      202,
    );
    await waitFor("accepted", async () => (await runnerLog(prompt)).jobs[0]?.deliveries[0]?.status === 200);
    expect(await getJob(acct.key, job.id)).toMatchObject({ status: "queued", queuePosition: 3 });

    const t0 = Date.now();
    vi.useFakeTimers({ toFake: ["Date"] });
    // Each keep-alive comes well within a lease of the previous one; together they span more than two leases.
    for (let i = 1; i <= 3; i++) {
      vi.setSystemTime(t0 + i * 0.75 * LEASE);
      await event(job.id, { type: "accepted", attempt: 1, seq: i, queuePosition: 3 - i });
      vi.setSystemTime(t0 + (i * 0.75 + 0.5) * LEASE);
      // The alarm fires (past the first lease's deadline, before the renewed one): nothing happens.
      expect(await runDurableObjectAlarm(jobObject(job.id))).toBe(true);
      const j = await getJob(acct.key, job.id);
      expect(j.attempt).toBe(1);
      expect(j.queuePosition).toBe(i === 3 ? null : 3 - i);
      expect(j.status).toBe(i === 3 ? "running" : "queued");
    }
    expect((await runnerLog(prompt)).jobs).toHaveLength(1);

    // Started: progress renews the lease too, and a late keep-alive does not send the job back to the queue.
    vi.setSystemTime(t0 + 3 * LEASE);
    await event(job.id, { type: "progress", attempt: 1, seq: 4, phase: 1, step: 1, steps: 4, percent: 5 });
    await event(job.id, { type: "accepted", attempt: 1, seq: 5, queuePosition: 1 });
    vi.setSystemTime(t0 + 3.9 * LEASE);
    await runDurableObjectAlarm(jobObject(job.id));
    const running = await getJob(acct.key, job.id);
    expect(running).toMatchObject({ status: "running", attempt: 1, queuePosition: null });
    expect(running.progress.percent).toBe(5);

    // Then silence for a whole lease: the lease expires and the job goes to the next attempt. (Its dispatch, signed at
    // the faked time, is refused by the fake runner; the attempt change is what this test is about.)
    vi.setSystemTime(t0 + 4.1 * LEASE);
    await runDurableObjectAlarm(jobObject(job.id));
    vi.useRealTimers();
    const expired = await getJob(acct.key, job.id);
    expect(expired).toMatchObject({ status: "queued", attempt: 2, queuePosition: null });
    expect(expired.warnings.join(" ")).toContain("lease expired");
    await api("DELETE", `/v1/images/${job.id}`, { key: acct.key });
  });
});
