/** Cancellation: final at once, the runner told to stop, and the job pays only for the phases it completed. */
import { quote } from "@accdiff/shared";
import { describe, expect, it } from "vitest";
import {
  account,
  api,
  audit,
  body2x,
  body4x,
  expectJob,
  getJob,
  runnerLog,
  seedOf,
  setScenario,
  uniquePrompt,
  waitFor,
} from "./jobsHelpers";

const FUNDS = 1_000_000;

async function heldAfter(phase: number, label: string) {
  const acct = await account(FUNDS);
  const prompt = uniquePrompt(label);
  await setScenario(prompt, { attempts: { "1": { mode: "hold", afterPhase: phase } } });
  const job = await expectJob(await api("POST", "/v1/images", { key: acct.key, body: body4x(prompt, seedOf()) }), 202);
  await waitFor(`phase ${phase} done`, async () => {
    const j = await getJob(acct.key, job.id);
    return j.status === "running" && j.progress.phasesDone.length === phase;
  });
  return { acct, prompt, job };
}

describe("cancellation", () => {
  it("after two phases: pays for those two, the runner is told to stop", async () => {
    const { acct, prompt, job } = await heldAfter(2, "cancel mid-way");
    const res = await api("DELETE", `/v1/images/${job.id}`, { key: acct.key });
    const cancelled = await expectJob(res, 200);
    expect(cancelled.status).toBe("cancelled");
    const partial = quote(cancelled.request, 64, [], [1, 2]).price;
    expect(cancelled.billing).toEqual({ state: "captured", reserved: job.quote.price, charged: partial });
    expect(partial).toBeLessThanOrEqual(job.quote.price);
    expect(await audit(acct.id)).toMatchObject({ balance: FUNDS - partial, reserved: 0 });
    await waitFor("runner cancel", async () => (await runnerLog(prompt)).cancels.length === 1);
    // The cancel names the attempt it is for, and the runner holding it took it.
    expect((await runnerLog(prompt)).cancels.map((c) => [c.attempt, c.status])).toEqual([[1, 202]]);
    // The preview of the completed phase stays available.
    expect(cancelled.preview).not.toBeNull();
    // Cancelling again changes nothing.
    const again = await expectJob(await api("DELETE", `/v1/images/${job.id}`, { key: acct.key }), 200);
    expect(again.billing.charged).toBe(partial);
    expect(await audit(acct.id)).toMatchObject({ balance: FUNDS - partial, reserved: 0 });
  });

  it("before any phase: nothing is charged", async () => {
    const { acct, job } = await heldAfter(0, "cancel early");
    const cancelled = await expectJob(await api("DELETE", `/v1/images/${job.id}`, { key: acct.key }), 200);
    expect(cancelled.status).toBe("cancelled");
    expect(cancelled.billing).toEqual({ state: "released", reserved: job.quote.price, charged: 0 });
    expect(await audit(acct.id)).toMatchObject({ balance: FUNDS, reserved: 0 });
  });

  it("a finished job cannot be cancelled", async () => {
    const acct = await account(FUNDS);
    const job = await expectJob(
      await api("POST", "/v1/images", { key: acct.key, body: body2x(uniquePrompt("done"), seedOf()) }),
      202,
    );
    await waitFor("success", async () => (await getJob(acct.key, job.id)).status === "succeeded");
    const res = await api("DELETE", `/v1/images/${job.id}`, { key: acct.key });
    expect(res.status).toBe(409);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
  });
});
