import { describe, expect, it } from "vitest";
import { FakeModels, GOLDEN_FAKE_CONSTANTS, SDXL_SCHEDULER } from "../golden/testing/fakeModels";
import type { Models } from "../models/types";
import { runAccDiffusion } from "./accdiffusion";
import { InvalidRequestError, type PipelineRequest } from "./params";
import type { ProgressEvent } from "./progress";
import { resumeStateAt } from "./result";

/** Closed-form models on a 64-px base (window 8 latents, stride 4), with attention maps. */
function fakes(extra: Partial<ConstructorParameters<typeof FakeModels>[0]> = {}): FakeModels {
  return new FakeModels({
    constants: GOLDEN_FAKE_CONSTANTS,
    sampleSize: 8,
    scheduler: SDXL_SCHEDULER,
    attention: true,
    ...extra,
  });
}

const request: PipelineRequest = {
  prompt: "a red car near a blue house",
  negativePrompt: "blurry",
  width: 192,
  height: 192,
  steps: 3,
  seed: 7,
  viewBatchSize: 4,
};

const same = (a: Float32Array | Uint8Array, b: Float32Array | Uint8Array) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe("runAccDiffusion", () => {
  it("runs every phase of the default method and returns exactly width x height", async () => {
    const r = await runAccDiffusion(fakes(), request, { embeddingCache: null });
    expect(r.phases.map((p) => p.id)).toEqual([1, 2, 3]);
    expect([r.image.width, r.image.height]).toEqual([192, 192]);
    expect(r.image.data.length).toBe(192 * 192 * 3);
    for (const p of r.phases) {
      expect(p.latents.every(Number.isFinite)).toBe(true);
      expect(p.canny?.edges.length).toBe(p.image.width * p.image.height);
    }
    // Patch prompts came from the collected attention, and the ControlNet conditioned every window batch.
    expect(r.attention).toBeDefined();
    expect(r.patchPrompts[2].length).toBeGreaterThan(0);
    expect(r.phases[1].patchPrompts).toEqual(r.patchPrompts[2]);
    expect(r.modelCalls.total.controlnetCalls).toBeGreaterThan(0);
    expect(r.tokens[0]).toBe("<|startoftext|>");
    // Each distinct text is encoded once, however many windows and steps use it.
    const distinct = new Set([request.prompt, "blurry", ...r.patchPrompts[2], ...r.patchPrompts[3]]);
    expect(r.modelCalls.total.encodeTextCalls).toBe(distinct.size);
    expect(r.modelCalls.total.referenceEncodePromptCalls).toBeGreaterThan(distinct.size);
    expect(r.timings.denoisingSteps).toBe(9);
  });

  it("renders non-integer and non-square sizes at exactly the requested size", async () => {
    const r = await runAccDiffusion(fakes(), { ...request, width: 200, height: 136 }, { embeddingCache: null });
    expect([r.image.width, r.image.height]).toEqual([200, 136]);
    const last = r.phases[r.phases.length - 1];
    expect([last.spec.latentHeight, last.spec.latentWidth, last.spec.scale]).toEqual([17, 25, 3]);
  });

  it("renders sizes whose short side is under the window (4:1 at every seed, with and without patch prompts)", async () => {
    // 256x64 on a 64-px base is 4096x1024 with SDXL: phase 2's latent is 4 high for a window of 8. Each window spans
    // that whole axis, so every batch holds windows of one size (the reference's views reach past it instead and,
    // jittered apart, get clipped to different sizes that cannot be batched).
    for (const [width, height] of [
      [256, 64],
      [248, 72],
      [64, 256],
    ]) {
      for (const usePatchPrompts of [true, false]) {
        for (const seed of [1, 2, 3, 4]) {
          const req = { ...request, width, height, seed, usePatchPrompts, viewBatchSize: 16 };
          const r = await runAccDiffusion(fakes(), req, { embeddingCache: null });
          expect([r.image.width, r.image.height]).toEqual([width, height]);
          for (const p of r.phases) expect(p.latents.every(Number.isFinite)).toBe(true);
        }
      }
    }
  });

  it("is deterministic for a seed, and the seed matters", async () => {
    const a = await runAccDiffusion(fakes(), request, { embeddingCache: null });
    const b = await runAccDiffusion(fakes(), request, { embeddingCache: null });
    const c = await runAccDiffusion(fakes(), { ...request, seed: 8 }, { embeddingCache: null });
    expect(same(a.image.data, b.image.data)).toBe(true);
    expect(same(a.phases[2].latents, c.phases[2].latents)).toBe(false);
  });

  it("draws per (seed, phase): the first phases of a larger render equal a smaller render's", async () => {
    // The fake UNet ignores the original/target size of the time ids, which a real SDXL sees (see README).
    const small = await runAccDiffusion(fakes(), { ...request, width: 128, height: 128 }, { embeddingCache: null });
    const large = await runAccDiffusion(fakes(), request, { embeddingCache: null });
    expect(same(small.phases[0].latents, large.phases[0].latents)).toBe(true);
    expect(same(small.phases[1].latents, large.phases[1].latents)).toBe(true);
  });

  for (const referenceCompat of [false, true]) {
    it(`resumes bit-identically from a cached phase (referenceCompat ${referenceCompat})`, async () => {
      const req = { ...request, referenceCompat };
      const full = await runAccDiffusion(fakes(), req, { embeddingCache: null });
      for (const phaseId of [1, 2]) {
        const resumed = await runAccDiffusion(fakes(), req, {
          embeddingCache: null,
          resume: resumeStateAt(full, phaseId),
        });
        expect(resumed.phases.map((p) => p.id)).toEqual([2, 3].filter((id) => id > phaseId));
        expect(same(resumed.phases.at(-1)!.latents, full.phases.at(-1)!.latents)).toBe(true);
        expect(same(resumed.image.data, full.image.data)).toBe(true);
        expect(resumed.modelCalls.byPhase[3].unetBatchSizes).toEqual(full.modelCalls.byPhase[3].unetBatchSizes);
      }
    });
  }

  it("emits monotone progress that ends at 100%", async () => {
    const events: ProgressEvent[] = [];
    let t = 0;
    await runAccDiffusion(fakes(), request, {
      embeddingCache: null,
      onProgress: (e) => events.push(e),
      now: () => (t += 5),
    });
    expect(events).toHaveLength(9);
    for (let k = 1; k < events.length; k++) expect(events[k].percent).toBeGreaterThanOrEqual(events[k - 1].percent);
    expect(events.at(-1)!.percent).toBe(100);
    expect(events.at(-1)!.etaMs).toBe(0);
    expect(events.map((e) => [e.phase, e.step, e.steps])).toEqual([
      [1, 1, 3],
      [1, 2, 3],
      [1, 3, 3],
      [2, 1, 3],
      [2, 2, 3],
      [2, 3, 3],
      [3, 1, 3],
      [3, 2, 3],
      [3, 3, 3],
    ]);
    for (const e of events.slice(0, -1)) expect(e.etaMs).toBeGreaterThan(0);
  });

  it("cancels between model calls with an AbortError", async () => {
    const inner = fakes();
    const controller = new AbortController();
    let unetCalls = 0;
    const models: Models = {
      info: inner.info,
      tokenize: (t) => inner.tokenize(t),
      encodeText: (t) => inner.encodeText(t),
      controlnet: (i) => inner.controlnet(i),
      vaeDecode: (l) => inner.vaeDecode(l),
      vaeEncode: (i) => inner.vaeEncode(i),
      unet: (i, r) => {
        unetCalls++;
        if (unetCalls === 5) controller.abort();
        return inner.unet(i, r);
      },
    };
    const run = runAccDiffusion(models, request, { embeddingCache: null, signal: controller.signal });
    await expect(run).rejects.toMatchObject({ name: "AbortError" });
    expect(unetCalls).toBe(5);
  });

  it("starts from an image, probing its attention for patch prompts", async () => {
    const low = await runAccDiffusion(fakes(), { ...request, width: 64, height: 64 }, { embeddingCache: null });
    const r = await runAccDiffusion(
      fakes(),
      { ...request, width: 128, height: 128, initImage: low.image },
      { embeddingCache: null },
    );
    expect(r.phases.map((p) => [p.id, p.kind])).toEqual([
      [0, "encode"],
      [1, "upscale"],
      [2, "upscale"],
    ]);
    expect(r.modelCalls.total.vaeEncodeCalls).toBe(1);
    expect(r.modelCalls.byPhase[0].unetBatchSizes).toEqual([2, 2, 2]); // the three attention probes
    expect(r.patchPrompts[2]).toBeDefined();
    expect(r.phases[2].patchViews).toBeDefined();
    expect([r.image.width, r.image.height]).toEqual([128, 128]);
  });

  it("warns when the tokenizer cut the prompt", async () => {
    const r = await runAccDiffusion(
      fakes({ truncateWordsAbove: 3 }),
      { ...request, width: 64, height: 64 },
      { embeddingCache: null },
    );
    expect(r.warnings.some((w) => w.includes("cut to"))).toBe(true);
  });

  it("refuses to run with both upscaling branches off", async () => {
    await expect(
      runAccDiffusion(fakes(), { ...request, useMultiDiffusion: false, useDilatedSampling: false }),
    ).rejects.toBeInstanceOf(InvalidRequestError);
  });
});
