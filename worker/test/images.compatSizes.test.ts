/**
 * referenceCompat at a size the reference cannot run (quirk refuseUnrunnableSizes, shared referenceLimits.ts): the API
 * refuses it at submit and at the quote with a 422 problem naming the cause, and nothing is stored, held or
 * dispatched; the same size in the default mode is accepted and renders.
 */
import { listDurableObjectIds } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { account, api, expectJob, runnerLog, seedOf, testEnv, uniquePrompt, waitForStatus } from "./jobsHelpers";
import { nothingStored, type Problem, problemOf } from "./refusals";

const FUNDS = 1_000_000;
// At the tests' 64-px base: phase 1 is 66x45 px (latent 8x5), whose UNet attention maps are 2x2, while the reference
// keeps only maps of (66 // 32) x (45 // 32) = 2x1 pixels: it fails there.
const SIZE = { width: 200, height: 136 };

async function compatRefusal(res: Response): Promise<Problem> {
  const p = await problemOf(res, 422);
  expect(p.title).toBe("Validation failed");
  expect(p.errors).toHaveLength(1);
  expect(p.errors?.[0].path).toBe("referenceCompat");
  const message = p.errors?.[0].message ?? "";
  expect(message).toMatch(/^referenceCompat cannot reproduce 200x136 with patch prompts: a defect of the reference/);
  expect(message).toMatch(/attention grid/);
  expect(message).toMatch(/The default mode \(referenceCompat: false\) renders this size/);
  expect(p.detail).toBe(`referenceCompat: ${message}`);
  return p;
}

describe("referenceCompat at a size the reference cannot run", () => {
  it("is refused at submit with a 422 naming the cause: no job, no hold, no dispatch", async () => {
    const acct = await account(FUNDS);
    const prompt = uniquePrompt("compat-size");
    const jobs = (await listDurableObjectIds(testEnv.JOBS)).length;
    const body = { prompt, ...SIZE, seed: seedOf(), steps: 2, referenceCompat: true };
    await compatRefusal(await api("POST", "/v1/images", { key: acct.key, body }));
    await compatRefusal(
      await api("POST", "/v1/images", { key: acct.key, body, headers: { "idempotency-key": crypto.randomUUID() } }),
    );
    await nothingStored(acct, prompt, jobs, FUNDS);
  });

  it("is refused by the quote too", async () => {
    const acct = await account(FUNDS);
    const q = `width=${SIZE.width}&height=${SIZE.height}`;
    await compatRefusal(await api("GET", `/v1/quote?${q}&referenceCompat=true`, { key: acct.key }));
    expect((await api("GET", `/v1/quote?${q}`, { key: acct.key })).status).toBe(200);
    // Without patch prompts the reference aggregates no attention: compat runs that size.
    const noPatch = await api("GET", `/v1/quote?${q}&referenceCompat=true&switches.patchPrompts=false`, {
      key: acct.key,
    });
    expect(noPatch.status).toBe(200);
  });

  it("renders in the default mode", async () => {
    const acct = await account(FUNDS);
    const prompt = uniquePrompt("default-size");
    const body = { prompt, ...SIZE, seed: seedOf(), steps: 2 };
    const job = await expectJob(await api("POST", "/v1/images", { key: acct.key, body }), 202);
    const done = await waitForStatus(acct.key, job.id, ["succeeded", "failed"]);
    expect(done.status).toBe("succeeded");
    expect([done.result?.width, done.result?.height]).toEqual([SIZE.width, SIZE.height]);
    expect((await runnerLog(prompt)).jobs).toHaveLength(1);
  });
});
