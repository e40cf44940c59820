/**
 * The local branch of an upscaling step: MultiDiffusion over jittered windows of the native size, each window with
 * its own prompt (patch-content-aware prompts), its crop coordinates in the SDXL time ids and, with the canny
 * ControlNet, its crop of the previous phase's edges. The denoised windows are averaged where they overlap.
 *
 * Buffers are allocated once per phase and reused at every step and batch.
 */
import type { ControlCondition, HalfStage, UNetOutput } from "../models/types";
import { viewBoxes } from "./controlCondition";
import { type JobContext, phaseTimeIds } from "./job";
import { JS_STEP_KERNELS } from "./kernels/jsStepKernels";
import type { JitterFrame, LocalSums } from "./kernels/multiDiffusion/js";
import type { StepKernels } from "./kernels/stepKernels";
import type { PhasePatches } from "./patchPlan";
import type { PhaseSpec } from "./phasePlan";
import { assertUniformViewBatch } from "./referenceLimits";
import { controlnetKeep, viewTimeIds } from "./timeIds";
import { getViews, jitterRange, type View } from "./views";

/**
 * The branch's per-phase buffers (sizes from `localBufferSizes`) and the phase's kernel backend, which runs the
 * element loops in WebAssembly on buffers that are views of the phase memory.
 */
export interface LocalBuffers {
  kernels: StepKernels;
  /** Sums [C, H, W] and counts [H, W]. */
  value: Float32Array;
  count: Float32Array;
  /** A batch's model input, and its noise prediction copied next to the latent for the kernel. */
  input: Float32Array;
  noise: Float32Array;
  /** Half room for fp16 models (the phase memory's), given only with WebAssembly kernels. */
  halves?: HalfStage;
}

export function localBufferSizes(
  ctx: JobContext,
  phase: PhaseSpec,
): Record<keyof Omit<LocalBuffers, "kernels" | "halves">, number> {
  const C = ctx.info.latentChannels;
  const { window, viewBatchSize } = ctx.params;
  // Clipped views are at most window x window: one buffer serves every batch of the phase.
  const batch = 2 * viewBatchSize * C * window * window;
  const plane = phase.latentHeight * phase.latentWidth;
  return { value: C * plane, count: plane, input: batch, noise: batch };
}

export class MultiDiffusionBranch {
  private readonly jr: number;
  private readonly buffers: LocalBuffers;
  private readonly sums: LocalSums;
  /** The views `sums.count` was counted for. */
  private countedViews?: string;
  private readonly timeIdBase: Float32Array;
  private readonly promptsAll: string[];

  constructor(
    private readonly ctx: JobContext,
    private readonly phase: PhaseSpec,
    private readonly patches: PhasePatches | undefined,
    /** The phase's condition (handed to the models once; each batch names its crop boxes). */
    private readonly condition: ControlCondition | null,
    buffers?: LocalBuffers,
  ) {
    // The reference always jitters (random_jitter = True): views live in the latent padded by the jitter range.
    this.jr = jitterRange(ctx.params.window, ctx.params.stride);
    const sizes = localBufferSizes(ctx, phase);
    this.buffers = buffers ?? {
      kernels: JS_STEP_KERNELS,
      value: new Float32Array(sizes.value),
      count: new Float32Array(sizes.count),
      input: new Float32Array(sizes.input),
      noise: new Float32Array(0),
    };
    this.sums = { value: this.buffers.value, count: this.buffers.count };
    this.timeIdBase = phaseTimeIds(ctx, phase);
    this.promptsAll = [];
  }

  /**
   * The windows of step i: fixed patch windows, injected ones, or freshly jittered get_views (outside compat fitted to
   * an axis shorter than the window, so that a batch never mixes sizes).
   */
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
      this.ctx.params.quirks.extendAndClipShortAxis ? "extend" : "fit",
    );
  }

  /**
   * Denoises every window of step i and returns the MultiDiffusion sums (value_local before the division by
   * count_local, in the unpadded frame; owned by the branch, overwritten next step). `latents` is only read.
   */
  async run(i: number, latents: Float32Array): Promise<LocalSums> {
    const { ctx, phase, jr } = this;
    const { params, info, clock, caller } = ctx;
    const C = info.latentChannels;
    const { kernels } = this.buffers;
    // The noise prediction is copied into the phase memory when the WebAssembly kernel can then use it.
    const stageNoise = kernels.addresses(latents, this.buffers.noise, this.sums.value);
    const frame: JitterFrame = { latents, planes: C, height: phase.latentHeight, width: phase.latentWidth, jr };
    const vbMax = params.viewBatchSize;
    const views = this.viewsFor(i);
    // count_local depends only on the views: with fixed (patch) windows it is counted at the first step only.
    const viewsKey = views.join(";");
    const recount = viewsKey !== this.countedViews;
    this.countedViews = undefined; // set again once every batch has been counted
    this.sums.value.fill(0);
    if (recount) this.sums.count.fill(0);
    // The reference re-encodes every patch prompt (with the negative) at the start of every step.
    if (this.patches) caller.countReferenceEncode(views.length);
    const useControl = this.controlActive();
    const keep = controlnetKeep(i, clock.steps, params.controlGuidanceStart, params.controlGuidanceEnd);
    const condScale = params.controlnetConditioningScale * keep;

    for (let j = 0; j < views.length; j += vbMax) {
      const batch = views.slice(j, j + vbMax);
      const vb = batch.length;
      assertUniformViewBatch(ctx, phase, batch, phase.latentHeight + 2 * jr, phase.latentWidth + 2 * jr);
      const { vh, vw } = kernels.viewModelInput(frame, batch, clock.inputDivisor(i), this.buffers.input);
      const modelIn = this.buffers.input.subarray(0, 2 * vb * C * vh * vw);
      const prompts = this.patches ? this.patches.prompts.slice(j, j + vb) : this.repeatPrompt(vb);
      const cond = await ctx.conditioning.batch(params.negativePrompt, prompts);
      const input = {
        sample: { data: modelIn, shape: [2 * vb, C, vh, vw] },
        timestep: clock.timestep(i),
        encoderHiddenStates: cond.encoderHiddenStates,
        textEmbeds: cond.textEmbeds,
        timeIds: { data: viewTimeIds(this.timeIdBase, batch, info.vaeScaleFactor), shape: [2 * vb, 6] },
        attention: false, // only phase 1's maps are used
        noiseOut: stageNoise ? this.buffers.noise : undefined,
        halfStage: stageNoise ? this.buffers.halves : undefined,
        pairedRows: true, // viewModelInput writes each latent twice (CFG)
      };
      let out: UNetOutput;
      // The reference calls the ControlNet even when controlnet_keep is 0 (its residuals are then exactly zero);
      // outside compat we skip those calls, which changes nothing but time.
      if (useControl && this.condition && (params.quirks.controlNetAtZeroWeight || condScale !== 0)) {
        const boxes = viewBoxes(batch, info.vaeScaleFactor);
        out = await caller.unetControlled(input, { condition: this.condition, boxes, conditioningScale: condScale });
      } else {
        out = await caller.unet(input);
      }
      const { sigma, sigmaNext } = clock.stepSigmas(i, true);
      const step = { guidanceScale: params.multiGuidanceScale, sigma, sigmaNext };
      let noise = out.noise.data;
      if (stageNoise) {
        // Models that honour noiseOut have written it there already.
        if (noise.buffer !== this.buffers.noise.buffer || noise.byteOffset !== this.buffers.noise.byteOffset)
          this.buffers.noise.set(noise.subarray(0, 2 * vb * C * vh * vw));
        noise = this.buffers.noise;
      }
      kernels.accumulateGuided(frame, batch, noise, step, this.sums, recount);
    }
    this.countedViews = viewsKey;
    return this.sums;
  }

  /**
   * Whether this branch runs the ControlNet. The reference calls it only together with patch prompts (with
   * use_controlnet alone the canny condition is computed and never used); compat reproduces that, while by default
   * the switch means what it says and conditions every window.
   */
  controlActive(): boolean {
    const p = this.ctx.params;
    if (!p.useControlNet || !this.condition) return false;
    return p.quirks.controlNetOnlyWithPatchPrompts ? this.patches !== undefined : true;
  }

  private repeatPrompt(vb: number): string[] {
    const p = this.promptsAll;
    while (p.length < vb) p.push(this.ctx.params.prompt);
    return p.length === vb ? p : p.slice(0, vb);
  }
}
