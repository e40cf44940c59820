/**
 * The three cache paths, end to end: a full hit answered at once with no dispatch, a larger render resuming from the
 * deepest cached phase, and a change of c only reusing phase 1 (patch prompts derived again from cached attention).
 */
import { PRICE_TABLE, quote, renderPhases } from "@accdiff/shared";
import { describe, expect, it } from "vitest";
import { readPhase, readPhase1 } from "../src/cache/records";
import { makePng } from "./fakes/png";
import {
  account,
  api,
  audit,
  body4x,
  expectJob,
  runnerLog,
  seedOf,
  testEnv,
  uniquePrompt,
  waitForStatus,
} from "./jobsHelpers";

const FUNDS = 1_000_000;

async function render(key: string, body: Record<string, unknown>) {
  const first = await expectJob(await api("POST", "/v1/images", { key, body }), 202);
  return waitForStatus(key, first.id, ["succeeded", "failed"]);
}

// Each test renders one to three jobs on the toy-world runner, each awaited for up to 60 s (waitForStatus): under a
// loaded CI machine the config's 20 s per test is shorter than the waits it contains.
describe("cache", { timeout: 120_000 }, () => {
  it("records phase 1, each phase and the patch prompts of a finished render", async () => {
    const acct = await account(FUNDS);
    const done = await render(acct.key, body4x(uniquePrompt("records"), seedOf()));
    const log = await runnerLog(done.request.prompt);
    const keys = log.jobs[0].job.cacheKeys;
    const p1 = await readPhase1(testEnv.CACHE, keys.phase1);
    expect(p1).toMatchObject({ key: keys.phase1, jobId: done.id });
    expect(p1?.images.png?.width).toBe(64);
    for (const k of [2, 3, 4]) {
      const rec = await readPhase(testEnv.CACHE, keys.phases[String(k)]);
      expect(rec, `phase ${k}`).toMatchObject({ phase: k, width: 64 * k, height: 64 * k });
      expect(rec?.latents?.bytes).toBeGreaterThan(0);
      expect(rec?.canny?.contentType).toBe("image/png");
      // The phase's patch prompts are part of its record.
      expect(rec?.patchPrompts?.contentType).toContain("json");
      expect(rec?.patchPrompts?.bytes).toBeGreaterThan(0);
    }
  });

  it("answers a fully cached request at once (200), with no dispatch, at the cached price", async () => {
    const acct = await account(FUNDS);
    const prompt = uniquePrompt("full hit");
    const seed = seedOf();
    const first = await render(acct.key, body4x(prompt, seed));
    const before = await audit(acct.id);

    const res = await api("POST", "/v1/images", { key: acct.key, body: body4x(prompt, seed) });
    const again = await expectJob(res, 200);
    expect(again.id).not.toBe(first.id);
    expect(again.status).toBe("succeeded");
    expect(again.dispatched).toBe(false);
    expect(again.cache).toEqual({
      phase1: "hit",
      phasesServed: [2, 3, 4],
      phasesComputed: [],
      patchPromptsRecomputed: false,
    });
    const cachedQuote = quote(renderPhases(again.request, 64), [1, 2, 3, 4]);
    expect(again.quote).toEqual(cachedQuote);
    expect(again.billing).toEqual({ state: "captured", reserved: cachedQuote.price, charged: cachedQuote.price });
    expect(again.image?.sha256).toBe(first.image?.sha256);
    expect(again.preview?.sha256).toBe(first.preview?.sha256);
    // Served, not re-run: the runner saw only the first job.
    expect((await runnerLog(prompt)).jobs.map((j) => j.job.jobId)).toEqual([first.id]);
    const download = await api("GET", again.image!.url);
    expect(download.status).toBe(200);
    expect((await download.arrayBuffer()).byteLength).toBe(first.image?.bytes);
    expect(await audit(acct.id)).toMatchObject({ balance: before.balance - cachedQuote.price, reserved: 0 });

    // A smaller render whose last phase a larger one computed (3x after 4x) is a full hit too.
    const three = await expectJob(
      await api("POST", "/v1/images", { key: acct.key, body: body4x(prompt, seed, { width: 192, height: 192 }) }),
      200,
    );
    expect(three.cache).toEqual({
      phase1: "hit",
      phasesServed: [2, 3],
      phasesComputed: [],
      patchPromptsRecomputed: false,
    });
    expect(three.image).toMatchObject({ width: 192, height: 192 });
    expect(three.billing.charged).toBe(
      Math.max(PRICE_TABLE.minimum, quote(renderPhases(three.request, 64), [1, 2, 3]).price),
    );
    expect((await runnerLog(prompt)).jobs).toHaveLength(1);
  });

  it("resumes a larger render from the deepest cached phase", async () => {
    const acct = await account(FUNDS);
    const prompt = uniquePrompt("resume");
    const seed = seedOf();
    const small = await render(acct.key, body4x(prompt, seed, { width: 128, height: 128 }));
    expect(small.phases).toEqual([1, 2]);

    const big = await expectJob(await api("POST", "/v1/images", { key: acct.key, body: body4x(prompt, seed) }), 202);
    expect(big.cache).toEqual({
      phase1: "hit",
      phasesServed: [2],
      phasesComputed: [3, 4],
      patchPromptsRecomputed: true,
    });
    expect(big.quote).toEqual(quote(renderPhases(big.request, 64), [1, 2]));
    expect(big.preview?.sha256).toBe(small.preview?.sha256);
    const done = await waitForStatus(acct.key, big.id, ["succeeded", "failed"]);
    expect(done.status).toBe("succeeded");
    expect(done.result?.phasesComputed).toEqual([3, 4]);
    expect(done.phaseImages.map((f) => [f.phase, f.source])).toEqual([
      [1, "cache"],
      [2, "cache"],
      [3, "computed"],
      [4, "computed"],
    ]);

    const log = await runnerLog(prompt);
    expect(log.jobs).toHaveLength(2);
    const resumed = log.jobs[1].job;
    expect(resumed.resume?.fromPhase).toBe(2);
    // The runner fetched every resume artifact through its signed link.
    expect(log.jobs[1].resumeDownloads).toEqual({
      latents: 200,
      image: 200,
      attentionMaps: 200,
      tokens: 200,
      lowresLatents: 200,
    });
  });

  it("a change of c only reuses phase 1 and derives the patch prompts again", async () => {
    const acct = await account(FUNDS);
    const prompt = uniquePrompt("c only");
    const seed = seedOf();
    const first = await render(acct.key, body4x(prompt, seed, { c: 0.3 }));
    const second = await expectJob(
      await api("POST", "/v1/images", { key: acct.key, body: body4x(prompt, seed, { c: 0.5 }) }),
      202,
    );
    expect(second.cache).toEqual({
      phase1: "hit",
      phasesServed: [],
      phasesComputed: [2, 3, 4],
      patchPromptsRecomputed: true,
    });
    expect(second.quote).toEqual(quote(renderPhases(second.request, 64), [1]));
    const done = await waitForStatus(acct.key, second.id, ["succeeded", "failed"]);
    expect(done.status).toBe("succeeded");
    expect(done.preview?.sha256).toBe(first.preview?.sha256);
    const log = await runnerLog(prompt);
    const job = log.jobs[1].job;
    expect(job.params.c).toBe(0.5);
    expect(job.resume?.fromPhase).toBe(1);
    expect(job.cacheKeys.phase1).toBe(log.jobs[0].job.cacheKeys.phase1);
    expect(job.cacheKeys.phases["2"]).not.toBe(log.jobs[0].job.cacheKeys.phases["2"]);
    // The new patch prompts (c = 0.5) are in the new phase-2 record.
    const rec = await readPhase(testEnv.CACHE, job.cacheKeys.phases["2"]);
    expect(rec?.patchPrompts?.bytes).toBeGreaterThan(0);
  });

  it("serves an upscaled image as its job returned it (the refinement, not the encoding), each phase priced once", async () => {
    const acct = await account(FUNDS);
    const up = await api("POST", "/v1/uploads", {
      key: acct.key,
      body: new Uint8Array(makePng(64, 64, 11)),
      headers: { "content-type": "image/png" },
    });
    const { sha256 } = (await up.json()) as { sha256: string };
    const prompt = uniquePrompt("image refinement");
    const seed = seedOf();
    const body = (side: number) =>
      body4x(prompt, seed, { width: side, height: side, image: { sha256, width: 64, height: 64 } });
    const lines = (j: { quote: { lines: { phase: number; cached: boolean }[] } }) =>
      j.quote.lines.map((l) => [l.phase, l.cached]);

    // 1x: phase 1 is the encoded image, then its scale-1 refinement, which is the result.
    const first = await render(acct.key, body(64));
    expect(first.status).toBe("succeeded");
    expect(first.phases).toEqual([1]);
    expect(lines(first)).toEqual([[1, false]]);
    const refined = first.phaseImages[0];
    expect(refined.kind).toBe("phase_image");
    expect(first.image?.sha256).toBe(refined.sha256);
    expect(first.preview?.sha256).not.toBe(refined.sha256);

    // The same request: a full hit serving the refinement, priced once as cached.
    const again = await expectJob(await api("POST", "/v1/images", { key: acct.key, body: body(64) }), 200);
    expect(again.dispatched).toBe(false);
    expect(again.image?.sha256).toBe(first.image?.sha256);
    expect(again.phaseImages.map((f) => f.sha256)).toEqual([refined.sha256]);
    expect(lines(again)).toEqual([[1, true]]);

    // 2x: resumes from the encoded image (level 1 reused), so the runner refines again: phase 1 is priced computed.
    const two = await expectJob(await api("POST", "/v1/images", { key: acct.key, body: body(128) }), 202);
    expect(two.cache).toEqual({
      phase1: "hit",
      phasesServed: [],
      phasesComputed: [1, 2],
      patchPromptsRecomputed: true,
    });
    expect(lines(two)).toEqual([
      [1, false],
      [2, false],
    ]);
    const twoDone = await waitForStatus(acct.key, two.id, ["succeeded", "failed"]);
    expect(twoDone.status).toBe("succeeded");
    expect((await runnerLog(prompt)).jobs[1].job.resume?.fromPhase).toBe(1);
    expect(twoDone.phaseImages.map((f) => [f.phase, f.kind, f.sha256 === refined.sha256])).toEqual([
      [1, "phase_image", true],
      [2, "phase_image", false],
    ]);

    // 2x again: a full hit with the same final image and the refinement as phase 1's image, both lines cached.
    const twoAgain = await expectJob(await api("POST", "/v1/images", { key: acct.key, body: body(128) }), 200);
    expect(twoAgain.image?.sha256).toBe(twoDone.image?.sha256);
    expect(twoAgain.phaseImages.map((f) => f.sha256)).toEqual(twoDone.phaseImages.map((f) => f.sha256));
    expect(lines(twoAgain)).toEqual([
      [1, true],
      [2, true],
    ]);
    expect((await runnerLog(prompt)).jobs).toHaveLength(2);
  });

  it("quotes with the cache in mind", async () => {
    const acct = await account(FUNDS);
    const prompt = uniquePrompt("quote");
    const seed = seedOf();
    const q0 = await api(
      "GET",
      `/v1/quote?prompt=${encodeURIComponent(prompt)}&seed=${seed}&width=256&height=256&steps=4`,
      { key: acct.key },
    );
    const before = (await q0.json()) as { price: number; cache: { phasesComputed: number[] } };
    expect(before.cache.phasesComputed).toEqual([1, 2, 3, 4]);
    await render(acct.key, body4x(prompt, seed, { width: 128, height: 128 }));
    const q1 = await api(
      "GET",
      `/v1/quote?prompt=${encodeURIComponent(prompt)}&seed=${seed}&width=256&height=256&steps=4`,
      { key: acct.key },
    );
    const after = (await q1.json()) as {
      price: number;
      cache: { phasesServed: number[] };
      lines: { phase: number; cached: boolean }[];
    };
    expect(after.cache.phasesServed).toEqual([2]);
    expect(after.lines.filter((l) => l.cached).map((l) => l.phase)).toEqual([1, 2]);
    expect(after.price).toBeLessThanOrEqual(before.price);
    const plain = await api("GET", "/v1/quote?width=256&height=256&switches.progressiveUpscaling=false", {
      key: acct.key,
    });
    const pq = (await plain.json()) as { lines: { phase: number }[]; cache: null };
    expect(pq.lines.map((l) => l.phase)).toEqual([1, 4]);
    expect(pq.cache).toBeNull();
    const bad = await api("GET", "/v1/quote?width=abc&height=256&bogus=1", { key: acct.key });
    expect(bad.status).toBe(422);
    const problem = (await bad.json()) as { errors: { path: string }[] };
    expect(problem.errors.map((e) => e.path).sort()).toEqual(["", "width"]);
  });
});
