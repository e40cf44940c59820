/**
 * Every switch of the reference can be turned off: the job still runs, and the model-call pattern (or, for switches
 * that change no call, the result) changes as the method says.
 */
import { describe, expect, it } from "vitest";
import { FakeModels, GOLDEN_FAKE_CONSTANTS, SDXL_SCHEDULER } from "../golden/testing/fakeModels";
import { runAccDiffusion } from "./accdiffusion";
import type { PipelineRequest } from "./params";
import type { PipelineResult } from "./result";

const models = () =>
  new FakeModels({ constants: GOLDEN_FAKE_CONSTANTS, sampleSize: 8, scheduler: SDXL_SCHEDULER, attention: true });

// 128^2 on a 64-px base: phase 2 has a 16x16 latent, 9 windows of 8 (batches of 4, 4, 1), 4 dilated offsets.
const base: PipelineRequest = {
  prompt: "a red car near a blue house",
  negativePrompt: "blurry",
  width: 128,
  height: 128,
  steps: 3,
  seed: 3,
  viewBatchSize: 4,
};
const run = (r: Partial<PipelineRequest>) => runAccDiffusion(models(), { ...base, ...r }, { embeddingCache: null });
const perStep = (sizes: number[]) => [...sizes, ...sizes, ...sizes];
const phase2 = (r: PipelineResult) => r.modelCalls.byPhase[2];

describe("ablation switches", () => {
  it("all on: windows (CFG x 4, 4, 1) with the ControlNet, then one dilated batch of 4 offsets", async () => {
    const r = await run({});
    expect(phase2(r).unetBatchSizes).toEqual(perStep([8, 8, 2, 8]));
    expect(phase2(r).controlnetBatchSizes).toEqual(perStep([8, 8, 2]));
  });

  it("useMultiDiffusion off: only dilated sampling, no ControlNet", async () => {
    const r = await run({ useMultiDiffusion: false });
    expect(phase2(r).unetBatchSizes).toEqual(perStep([8]));
    expect(phase2(r).controlnetBatchSizes).toEqual([]);
  });

  it("useDilatedSampling off: only the windows", async () => {
    const r = await run({ useDilatedSampling: false });
    expect(phase2(r).unetBatchSizes).toEqual(perStep([8, 8, 2]));
  });

  it("useControlNet off: no ControlNet calls and no canny", async () => {
    const r = await run({ useControlNet: false });
    expect(r.modelCalls.total.controlnetCalls).toBe(0);
    expect(r.phases.every((p) => p.canny === undefined)).toBe(true);
  });

  it("usePatchPrompts off: one prompt for every window; the ControlNet still conditions them by default", async () => {
    const r = await run({ usePatchPrompts: false });
    expect(r.modelCalls.total.encodeTextCalls).toBe(2);
    expect(r.modelCalls.total.referenceEncodePromptCalls).toBe(1);
    expect(phase2(r).controlnetBatchSizes).toEqual(perStep([8, 8, 2]));
    expect(r.patchPrompts).toEqual({});
  });

  it("usePatchPrompts off in referenceCompat: the reference never calls the ControlNet then", async () => {
    const r = await run({ usePatchPrompts: false, referenceCompat: true });
    expect(r.modelCalls.total.controlnetCalls).toBe(0);
    expect(r.phases[0].canny).toBeDefined(); // computed but unused, like the reference
  });

  it("controlGuidanceEnd: steps outside the window skip the ControlNet (compat calls it with scale 0)", async () => {
    const r = await run({ controlGuidanceEnd: 0.5 });
    expect(phase2(r).controlnetBatchSizes).toEqual([8, 8, 2]);
    const compat = await run({ controlGuidanceEnd: 0.5, referenceCompat: true });
    expect(phase2(compat).controlnetBatchSizes).toEqual(perStep([8, 8, 2]));
  });

  it("useProgressiveUpscaling off: straight from phase 1 to the last scale", async () => {
    const r = await run({ useProgressiveUpscaling: false, width: 192, height: 192 });
    expect(r.phases.map((p) => p.id)).toEqual([1, 3]);
    expect([r.image.width, r.image.height]).toEqual([192, 192]);
  });

  it("viewBatchSize regroups the same windows", async () => {
    const r = await run({ viewBatchSize: 16 });
    expect(phase2(r).unetBatchSizes).toEqual(perStep([18, 8]));
  });

  for (const sw of ["shuffle", "useGaussian", "useSkipResidual"] as const) {
    it(`${sw} off: same calls, different latents`, async () => {
      const on = await run({});
      const off = await run({ [sw]: false });
      expect(phase2(off).unetBatchSizes).toEqual(phase2(on).unetBatchSizes);
      const a = on.phases[1].latents;
      const b = off.phases[1].latents;
      expect(a.every((v, k) => v === b[k])).toBe(false);
      expect(b.every(Number.isFinite)).toBe(true);
    });
  }
});
