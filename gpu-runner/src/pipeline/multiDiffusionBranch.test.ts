import { describe, expect, it } from "vitest";
import { FakeModels, GOLDEN_FAKE_CONSTANTS, SDXL_SCHEDULER } from "../golden/fakeModels";
import type { Tensor } from "../models/types";
import { cropCondition } from "./controlCondition";
import { createJob } from "./job";
import { MultiDiffusionBranch } from "./multiDiffusionBranch";
import { resolveParams } from "./params";
import type { PhasePatches } from "./patchPlan";
import { planPhases } from "./phasePlan";
import { getViews, jitterRange } from "./views";

/** Phase 2 of a 128^2 job on the 64-px fake base: a 16x16 latent, 9 windows of 8 latents. */
function setup(viewBatchSize: number) {
  const models = new FakeModels({ constants: GOLDEN_FAKE_CONSTANTS, sampleSize: 8, scheduler: SDXL_SCHEDULER });
  const params = resolveParams(models.info, { prompt: "a red car", width: 128, height: 128, steps: 3, viewBatchSize });
  const plan = planPhases({
    width: 128,
    height: 128,
    base: models.info.baseResolution,
    vaeScaleFactor: 8,
    progressive: true,
    fromImage: false,
    referenceCompat: false,
  });
  const ctx = createJob({ models, params, plan, lru: null });
  const phase = plan.upscales[0];
  const cond = Float32Array.from({ length: 128 * 128 }, (_, i) => (i % 5 === 0 ? 1 : 0));
  const condition = { data: cond, height: 128, width: 128, pad: jitterRange(8, 4) * 8 };
  // The models see the host crops (FakeModels has no unetControlled): each distinct tensor is one crop build.
  const crops = new Set<Tensor>();
  const seen: Float32Array[] = [];
  const controlnet = models.controlnet.bind(models);
  models.controlnet = async (input) => {
    crops.add(input.cond);
    seen.push(Float32Array.from(input.cond.data));
    return controlnet(input);
  };
  let k = 0;
  const views = getViews(16, 16, 8, 4, (lo, hi) => lo + (k++ % (hi - lo + 1)));
  const patches: PhasePatches = { views, prompts: views.map(() => "a red car"), geometry: "latent" };
  const latents = Float32Array.from({ length: 4 * 16 * 16 }, (_, i) => Math.sin(i));
  return { ctx, phase, condition, crops, seen, patches, latents, views };
}

describe("MultiDiffusionBranch ControlNet crops", () => {
  it("builds the crops of a fixed single view batch once per phase, and the ControlNet still sees them", async () => {
    const { ctx, phase, condition, crops, seen, patches, latents, views } = setup(16);
    const branch = new MultiDiffusionBranch(ctx, phase, patches, condition);
    for (let i = 0; i < 3; i++) await branch.run(i, latents);
    expect(crops.size).toBe(1);
    expect(seen.length).toBe(3);
    const fresh = cropCondition(
      Float32Array.from({ length: 128 * 128 }, (_, i) => (i % 5 === 0 ? 1 : 0)),
      128,
      128,
      jitterRange(8, 4) * 8,
      views,
      undefined,
      { rowsPerView: 2, vaeScale: 8 },
    );
    const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    for (const s of seen) expect(bytes(s).equals(bytes(fresh.data))).toBe(true);
  });

  it("rebuilds them when a phase has several batches or jittered windows", async () => {
    const a = setup(4);
    const branch = new MultiDiffusionBranch(a.ctx, a.phase, a.patches, a.condition);
    for (let i = 0; i < 3; i++) await branch.run(i, a.latents);
    expect(a.crops.size).toBe(3 * 3); // batches of 4, 4, 1 at every step

    const b = setup(16);
    const jittered = new MultiDiffusionBranch(b.ctx, b.phase, undefined, b.condition);
    for (let i = 0; i < 3; i++) await jittered.run(i, b.latents);
    expect(b.crops.size).toBe(3);
  });
});
