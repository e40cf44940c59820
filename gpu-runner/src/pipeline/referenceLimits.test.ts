/**
 * Sizes where the reference itself cannot run: referenceCompat refuses them with an UnsupportedSizeError that says
 * why, instead of failing deep inside the MultiDiffusion kernels. Sizes where the reference's slicing clips a view
 * larger than the latent run as the reference does.
 */
import { describe, expect, it } from "vitest";
import { FakeModels, GOLDEN_FAKE_CONSTANTS, SDXL_SCHEDULER } from "../golden/testing/fakeModels";
import { runAccDiffusion } from "./accdiffusion";
import type { PipelineRequest } from "./params";
import { UnsupportedSizeError } from "./phasePlan";
import { jitterRange } from "./views";

/** Closed-form models; sampleSize 8 is a 64-px base (window 8, stride 4), 16 a 128-px one (window 16, stride 8). */
const fakes = (sampleSize = 8) =>
  new FakeModels({ constants: GOLDEN_FAKE_CONSTANTS, sampleSize, scheduler: SDXL_SCHEDULER, attention: true });

const request: PipelineRequest = {
  prompt: "a red car near a blue house",
  negativePrompt: "blurry",
  width: 200,
  height: 136,
  steps: 2,
  seed: 7,
  viewBatchSize: 4,
  referenceCompat: true,
};

async function outcome(models: FakeModels, req: PipelineRequest): Promise<"ran" | Error> {
  try {
    await runAccDiffusion(models, req, { embeddingCache: null });
    return "ran";
  } catch (e) {
    return e as Error;
  }
}

describe("referenceCompat at sizes the reference cannot run", () => {
  it("refuses, before any model call, a phase 1 whose attention maps are not the (pixels // 32) grid the reference looks for", async () => {
    // 200x136 on a 64-px base: phase 1 is 66x45 px (latent 8x5). The UNet's maps are ceil(latent / 4) = 2x2, but
    // aggregate_attention keeps only maps of (45 // 32) * (66 // 32) = 2 pixels: none, and the reference fails.
    for (const [width, height] of [
      [200, 136],
      [136, 200],
      [192, 128],
      [248, 72],
    ]) {
      const models = fakes();
      let steps = 0;
      const run = runAccDiffusion(
        models,
        { ...request, width, height },
        { embeddingCache: null, onStep: () => void steps++ },
      );
      await expect(run).rejects.toThrow(UnsupportedSizeError);
      await expect(run).rejects.toThrow(/attention maps/);
      expect(steps).toBe(0);
      // 248x72 has a phase whose latent is shorter than the window: see the next test.
      if (height === 72) continue;
      // Without patch prompts the reference never aggregates attention, and outside compat we use the real grid.
      expect(await outcome(fakes(), { ...request, width, height, usePatchPrompts: false })).toBe("ran");
      expect(await outcome(fakes(), { ...request, width, height, referenceCompat: false })).toBe("ran");
    }
  });

  it("refuses a window batch that slicing clips to different sizes (the reference's torch.cat fails too)", async () => {
    // 256x64 on a 64-px base, no patch prompts: phase 2's latent is 4 high, under the window of 8, so every view is
    // (0, 8) jittered by its own draw in [-1, 0] and clipped by the 6-row padded latent to 6 or 5 rows.
    const req = { ...request, width: 256, height: 64, usePatchPrompts: false };
    const results = [];
    for (const seed of [1, 2, 3, 4]) results.push(await outcome(fakes(), { ...req, seed }));
    const refused = results.filter((r) => r !== "ran");
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) {
      expect(r).toBeInstanceOf(UnsupportedSizeError);
      expect((r as Error).message).toMatch(/clipped to different sizes/);
    }
    // One window per batch: each slice goes through the UNet alone, in the reference too.
    for (const seed of [1, 2, 3, 4]) expect(await outcome(fakes(), { ...req, seed, viewBatchSize: 1 })).toBe("ran");
  });

  it("runs a view larger than the latent, clipped by slicing like the reference, when the whole batch clips alike", async () => {
    // 256x64 on a 128-px base: phase 1 is 128x32 px, attention 4x1 = (32 // 32) x (128 // 32): the reference runs.
    // The attention window (4) exceeds the 2-high frame of scale 2, so the latent views are 16 high over a latent of
    // 8 (12 padded): slicing clips every one of them to 12 rows.
    const r = await runAccDiffusion(fakes(16), { ...request, width: 256, height: 64 }, { embeddingCache: null });
    expect([r.image.width, r.image.height]).toEqual([256, 64]);
    const phase2 = r.phases.find((p) => p.id === 2)!;
    const jr = jitterRange(16, 8);
    const views = phase2.patchViews!;
    expect(views.length).toBeGreaterThan(1);
    for (const [h0, h1] of views) {
      expect(h1 - h0).toBe(16);
      expect(h1).toBeGreaterThan(phase2.spec.latentHeight + 2 * jr);
    }
  });
});
