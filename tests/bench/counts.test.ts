import { resolveRequest } from "@accdiff/shared";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { planTiles, SDXL_VAE_TILING } from "../../gpu-runner/src/pipeline/tiledDecode";
import { getAttentionViews, getViews } from "../../gpu-runner/src/pipeline/views";
import { cachedKeys, cachePathOf, savingsOf } from "./cachePaths";
import {
  COUNT_KINDS,
  type EvalCounts,
  evaluateLinear,
  fitLinear,
  linearityError,
  type PhaseCounts,
  sumPhases,
} from "./evalCounts";
import { measureCounts } from "./measureCounts";
import { referenceCounts, referencePhases, sdxlReferenceCall, vaeTiles, windowsAlong } from "./referenceCounts";

const counts = fc.record({
  unetCalls: fc.nat(1000),
  unetSamples: fc.nat(1000),
  controlnetCalls: fc.nat(1000),
  controlnetSamples: fc.nat(1000),
  textEncodings: fc.nat(1000),
  vaeDecodes: fc.nat(1000),
}) satisfies fc.Arbitrary<EvalCounts>;
const phaseCounts = fc.dictionary(fc.integer({ min: 1, max: 6 }).map(String), counts, { minKeys: 1 }).map((d) => {
  const out: PhaseCounts = {};
  for (const [k, v] of Object.entries(d)) out[Number(k)] = v;
  return out;
});

describe("reference derivation", () => {
  it("counts windows like the pipeline's get_views (latent and attention-map tilings)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 700 }), fc.integer({ min: 1, max: 700 }), (h, w) => {
        expect(windowsAlong(h, 128, 64) * windowsAlong(w, 128, 64)).toBe(getViews(h, w, 128, 64).length);
        const a = Math.max(1, Math.round(h / 20));
        const b = Math.max(1, Math.round(w / 20));
        expect(windowsAlong(a, 32, 16) * windowsAlong(b, 32, 16)).toBe(getAttentionViews(a, b, 32, 16).length);
      }),
    );
  });

  it("counts VAE tiles like the pipeline's tiled decode", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 600 }), fc.integer({ min: 1, max: 600 }), (h, w) => {
        const p = planTiles(h, w, SDXL_VAE_TILING);
        expect(vaeTiles(h, w, 128, 0.25)).toBe(p.tiled ? p.rows * p.cols : 1);
      }),
    );
  });

  it("gives the reference's phases 2..S at base * s", () => {
    const p = referencePhases(sdxlReferenceCall(4096, 4096, 50));
    expect(p.scaleNum).toBe(4);
    expect(p.base).toEqual({ height: 1024, width: 1024 });
    expect(p.upscales.map((u) => [u.scale, u.height, u.width])).toEqual([
      [2, 2048, 2048],
      [3, 3072, 3072],
      [4, 4096, 4096],
    ]);
  });

  it("works out 2048^2 with patch prompts and ControlNet", () => {
    const n = 50;
    const { phases, encodePromptCalls } = referenceCounts(sdxlReferenceCall(2048, 2048, n));
    // Phase 1: one CFG-doubled UNet call per step, one encode_prompt (text + negative), one decode.
    expect(phases[1]).toEqual({
      unetCalls: n,
      unetSamples: 2 * n,
      controlnetCalls: 0,
      controlnetSamples: 0,
      textEncodings: 2,
      vaeDecodes: 1,
    });
    // Phase 2: 3 x 3 windows in one batch (+ the ControlNet on it), 2 x 2 dilated samples in one batch, each window's
    // prompt re-encoded every step, decoded whole (2048 is not above the tiling threshold).
    expect(phases[2]).toEqual({
      unetCalls: n * 2,
      unetSamples: n * 2 * (9 + 4),
      controlnetCalls: n,
      controlnetSamples: n * 2 * 9,
      textEncodings: 2 * n * 9,
      vaeDecodes: 1,
    });
    expect(encodePromptCalls).toEqual({ 1: 1, 2: n * 9 });
  });

  it("has closed forms for squares at integer scales", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 6 }), fc.integer({ min: 1, max: 60 }), fc.boolean(), (S, n, md) => {
        const c = { ...sdxlReferenceCall(1024 * S, 1024 * S, n), usePatchPrompts: md };
        const { phases, encodePromptCalls } = referenceCounts(c);
        let views = 0;
        let dilated = 0;
        for (let s = 2; s <= S; s++) {
          views += (2 * s - 1) ** 2;
          dilated += s * s;
        }
        const t = sumPhases(phases);
        expect(t.unetSamples).toBe(2 * n * (1 + views + dilated));
        expect(t.controlnetSamples).toBe(md ? 2 * n * views : 0);
        const enc = Object.values(encodePromptCalls).reduce((a, b) => a + b, 0);
        expect(enc).toBe(md ? 1 + n * views : 1);
        expect(t.textEncodings).toBe(2 * enc);
      }),
    );
  });

  it("equals what our referenceCompat run does (2048^2, 2 steps)", async () => {
    const r = resolveRequest({ prompt: "a cat and a dog", width: 2048, height: 2048, seed: 3, referenceCompat: true });
    const m = await measureCounts(r, 2);
    const ref = referenceCounts(sdxlReferenceCall(2048, 2048, 2));
    for (const id of [1, 2]) {
      for (const k of COUNT_KINDS)
        if (k !== "textEncodings") expect(m.full[id][k], `${id} ${k}`).toBe(ref.phases[id][k]);
      expect(m.referenceEncodePromptCalls[id]).toBe(ref.encodePromptCalls[id]);
    }
  }, 60_000);
});

describe("linear extrapolation in the number of steps", () => {
  it("recovers fixed + perStep * n from two step counts and checks a third", () => {
    fc.assert(
      fc.property(phaseCounts, phaseCounts, fc.integer({ min: 3, max: 60 }), (fixed, slope, n3) => {
        // Same phases in both.
        const perStep: PhaseCounts = {};
        for (const id of Object.keys(fixed).map(Number)) perStep[id] = slope[id] ?? fixed[id];
        const f = { fixed, perStep };
        const fit = fitLinear(1, evaluateLinear(f, 1), 2, evaluateLinear(f, 2));
        expect(fit).toEqual(f);
        expect(linearityError(fit, n3, evaluateLinear(f, n3))).toEqual([]);
        const off = evaluateLinear(f, n3);
        const id = Number(Object.keys(off)[0]);
        off[id] = { ...off[id], unetCalls: off[id].unetCalls + 1 };
        expect(linearityError(fit, n3, off)).toHaveLength(1);
      }),
    );
  });
});

describe("cache paths", () => {
  const base = 1024;
  const r = (size: number, extra: Record<string, unknown> = {}) =>
    resolveRequest({ prompt: "p", width: size, height: size, seed: 5, ...extra });
  const path = async (earlier: ReturnType<typeof r>[], next: ReturnType<typeof r>) =>
    cachePathOf("b", await cachedKeys("b", earlier, base), next, base);

  it("resumes 4096 after 2048 from phase 2, serves 3072 after 4096 in full, resumes a c change from phase 1", async () => {
    expect(await path([r(2048)], r(4096))).toEqual({
      kind: "resume",
      resumeFrom: 2,
      cachedPhases: [1, 2],
      computedPhases: [3, 4],
    });
    expect((await path([r(4096)], r(3072))).kind).toBe("full-hit");
    expect(await path([r(2048)], r(2048, { c: 0.5 }))).toEqual({
      kind: "resume",
      resumeFrom: 1,
      cachedPhases: [1],
      computedPhases: [2],
    });
  });

  it("misses on another seed, and across final sizes in referenceCompat (time ids carry the final size)", async () => {
    expect((await path([r(4096)], r(4096, { seed: 6 }))).kind).toBe("miss");
    expect((await path([r(4096, { referenceCompat: true })], r(3072, { referenceCompat: true }))).kind).toBe("miss");
  });

  it("splits a render's evaluations into saved + run", () => {
    fc.assert(
      fc.property(phaseCounts, fc.subarray([1, 2, 3, 4, 5, 6]), (p, cached) => {
        const s = savingsOf({ kind: "resume", resumeFrom: null, cachedPhases: cached, computedPhases: [] }, p);
        for (const k of COUNT_KINDS) expect(s.saved[k] + s.runs[k]).toBe(s.uncached[k]);
        expect(s.saved).toEqual(sumPhases(p, cached));
      }),
    );
  });
});
