/**
 * The local branch of an upscaling step: MultiDiffusion over jittered windows of the native size, each window with
 * its own prompt (patch-content-aware prompts), its crop coordinates in the SDXL time ids and, with the canny
 * ControlNet, its crop of the previous phase's edges. The denoised windows are averaged where they overlap.
 *
 * Buffers are allocated once per phase and reused at every step and batch.
 */
import type { ControlResiduals, Tensor } from "../models/types";
import {
  accumulateView,
  clipView,
  createAccumulator,
  finishMultiDiffusion,
  gatherViews,
  type MultiDiffusionAccumulator,
  resetAccumulator,
} from "./fusion";
import { type JobContext, phaseTimeIds } from "./job";
import type { PhasePatches } from "./patchPlan";
import type { PhaseSpec } from "./phasePlan";
import { cfgGuidance, cfgModelInput, ensure } from "./sampling";
import { padPlanes } from "./tensor/pad";
import { controlnetKeep, viewTimeIds } from "./timeIds";
import { getViews, jitterRange, type View } from "./views";

/** Crops of the ControlNet condition for a batch of views, CFG-doubled: [2*vb, 3, 8*vh, 8*vw]. */
export interface ConditionCrops {
  crop(views: readonly View[], jitterPad: number, out?: Float32Array): Tensor;
}

export interface LocalResult {
  /** value_local after the crop and the count==0 fallback, [C, H, W]. */
  value: Float32Array;
  /** count_local, one [H, W] plane. */
  count: Float32Array;
  /** Latent positions no window covered (they took the fallback). */
  uncovered: number;
}

export class MultiDiffusionBranch {
  private readonly jr: number;
  private readonly padded: Float32Array;
  private readonly acc: MultiDiffusionAccumulator;
  private readonly value: Float32Array;
  private readonly count: Float32Array;
  private crops?: Float32Array;
  private modelIn?: Float32Array;
  private guided?: Float32Array;
  private denoised?: Float32Array;
  private condBuf?: Float32Array;
  private readonly timeIdBase: Float32Array;
  private readonly promptsAll: string[];

  constructor(
    private readonly ctx: JobContext,
    private readonly phase: PhaseSpec,
    private readonly patches: PhasePatches | undefined,
    private readonly condition: ConditionCrops | null,
  ) {
    const C = ctx.info.latentChannels;
    const { latentHeight: H, latentWidth: W } = phase;
    // The reference always jitters (random_jitter = True), so the latent is always padded by the jitter range.
    this.jr = jitterRange(ctx.params.window, ctx.params.stride);
    const PH = H + 2 * this.jr;
    const PW = W + 2 * this.jr;
    this.padded = new Float32Array(C * PH * PW);
    this.acc = createAccumulator(C, PH, PW);
    this.value = new Float32Array(C * H * W);
    this.count = new Float32Array(H * W);
    this.timeIdBase = phaseTimeIds(ctx, phase);
    this.promptsAll = [];
  }

  /** The windows of step i: fixed patch windows, injected ones, or freshly jittered get_views. */
  viewsFor(i: number): View[] {
    if (this.patches) return this.patches.views;
    const { window, stride } = this.ctx.params;
    const injected = this.ctx.random.injectedViews(this.phase.id, i);
    if (injected) return injected;
    return getViews(
      this.phase.latentHeight,
      this.phase.latentWidth,
      window,
      stride,
      this.ctx.random.viewJitter(this.phase.id),
    );
  }

  async run(i: number, latents: Float32Array, fallback: Float32Array): Promise<LocalResult> {
    const { ctx, phase, jr } = this;
    const { params, info, clock, caller } = ctx;
    const C = info.latentChannels;
    const H = phase.latentHeight;
    const W = phase.latentWidth;
    const vbMax = params.viewBatchSize;
    padPlanes(latents, C, H, W, { top: jr, bottom: jr, left: jr, right: jr }, this.padded);
    resetAccumulator(this.acc);
    const views = this.viewsFor(i);
    // The reference re-encodes every patch prompt (with the negative) at the start of every step.
    if (this.patches) caller.countReferenceEncode(views.length);
    const useControl = this.controlActive();
    const keep = controlnetKeep(i, clock.steps, params.controlGuidanceStart, params.controlGuidanceEnd);
    const condScale = params.controlnetConditioningScale * keep;

    for (let j = 0; j < views.length; j += vbMax) {
      const batch = views.slice(j, j + vbMax);
      const vb = batch.length;
      const box = clipView(batch[0], this.acc.height, this.acc.width);
      const per = C * (box.h1 - box.h0) * (box.w1 - box.w0);
      this.crops = ensure(this.crops, vb * per);
      const X = this.crops.subarray(0, vb * per);
      const first = gatherViews(this.padded, C, this.acc.height, this.acc.width, batch, X);
      this.modelIn = ensure(this.modelIn, 2 * vb * per);
      const modelIn = this.modelIn.subarray(0, 2 * vb * per);
      cfgModelInput(X, vb, per, clock.inputDivisor(i), modelIn);
      const prompts = this.patches ? this.patches.prompts.slice(j, j + vb) : this.repeatPrompt(vb);
      const cond = await ctx.conditioning.batch(params.negativePrompt, prompts);
      const input = {
        sample: { data: modelIn, shape: [2 * vb, C, first.h, first.w] },
        timestep: clock.timestep(i),
        encoderHiddenStates: cond.encoderHiddenStates,
        textEmbeds: cond.textEmbeds,
        timeIds: { data: viewTimeIds(this.timeIdBase, batch, info.vaeScaleFactor), shape: [2 * vb, 6] },
      };
      let residuals: ControlResiduals | undefined;
      // The reference calls the ControlNet even when controlnet_keep is 0 (its residuals are then exactly zero);
      // outside compat we skip those calls, which changes nothing but time.
      if (useControl && this.condition && (params.referenceCompat || condScale !== 0)) {
        const k = info.vaeScaleFactor;
        this.condBuf = ensure(this.condBuf, 2 * vb * 3 * (k * (box.h1 - box.h0)) * (k * (box.w1 - box.w0)));
        const c = this.condition.crop(batch, jr, this.condBuf);
        residuals = await caller.controlnet({ ...input, cond: c, conditioningScale: condScale });
      }
      const out = await caller.unet(input, residuals);
      this.guided = ensure(this.guided, vb * per);
      const guided = this.guided.subarray(0, vb * per);
      cfgGuidance(out.noise.data, vb, per, params.multiGuidanceScale, guided);
      this.denoised = ensure(this.denoised, vb * per);
      const denoised = this.denoised.subarray(0, vb * per);
      clock.step(i, guided, X, denoised, true);
      for (let b = 0; b < vb; b++) accumulateView(this.acc, batch[b], denoised.subarray(b * per, (b + 1) * per));
    }
    const uncovered = finishMultiDiffusion(this.acc, jr, H, W, fallback, this.value, this.count);
    return { value: this.value, count: this.count, uncovered };
  }

  /**
   * Whether this branch runs the ControlNet. The reference calls it only together with patch prompts (with
   * use_controlnet alone the canny condition is computed and never used); compat reproduces that, while by default
   * the switch means what it says and conditions every window.
   */
  controlActive(): boolean {
    const p = this.ctx.params;
    if (!p.useControlNet || !this.condition) return false;
    return p.referenceCompat ? this.patches !== undefined : true;
  }

  private repeatPrompt(vb: number): string[] {
    const p = this.promptsAll;
    while (p.length < vb) p.push(this.ctx.params.prompt);
    return p.length === vb ? p : p.slice(0, vb);
  }
}
