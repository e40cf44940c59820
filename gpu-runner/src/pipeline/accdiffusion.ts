/**
 * AccDiffusion v2 (arXiv 2412.02099) over the Models interface, top to bottom like the method:
 *
 *   1. Phase 1 at the base resolution (aspect kept), recording the prompt's cross-attention; or the caller's image,
 *      encoded, with its attention probed.
 *   2. Patch-content-aware prompts: per-token masks of the averaged attention, and for every upscaling scale the
 *      words that cover each window.
 *   3. Progressive upscaling, phase after phase: bicubic latent upscale, noise inversion, and per step skip residual,
 *      MultiDiffusion over jittered windows with their own prompts (+ canny ControlNet of the previous phase's image),
 *      dilated sampling with Gaussian filter and window interaction, fusion; then renormalisation to phase 1's
 *      statistics, decoding (tiled above 2048 px) and the canny of the new image for the next phase.
 *
 * Defaults fix the reference's defects; `referenceCompat` reproduces them (see README, "Reference defects").
 */
import type { BundleInfo, ControlCondition, Models } from "../models/types";
import type { AttentionMap } from "./attention";
import { phaseOnePixels, runBasePhase } from "./basePhase";
import { cannyCondition, resizeCondition } from "./controlCondition";
import { decodeLatents } from "./decode";
import { startFromImage } from "./imageStart";
import { createJob, type JobContext, type StepListener, upscaleBranches } from "./job";
import { InvalidRequestError, type PipelineParams, type PipelineRequest, type RgbImage, resolveParams } from "./params";
import { type PatchPlan, planPatchPrompts } from "./patchPlan";
import { type PhasePlan, type PhaseSpec, planPhases } from "./phasePlan";
import type { ProgressListener } from "./progress";
import type { Injection } from "./randomness";
import { assertReferenceAttentionGrid } from "./referenceLimits";
import { type CannyResult, type PhaseResult, type PipelineResult, type ResumeState, totals } from "./result";
import type { EulerSchedule } from "./scheduler";
import { mean, stdUnbiased } from "./tensor/stats";
import { type EmbeddingLru, sharedEmbeddingLru } from "./textEncoding";
import { runUpscalePhase } from "./upscalePhase";
import { jitterRange, type View } from "./views";

export interface RunOptions {
  /** Cancels the job between model calls (the promise rejects with an AbortError). */
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  /** Latents after every denoising step (the reference's callback); the array is reused, copy what you keep. */
  onStep?: StepListener;
  /** Replaces random draws (tests, golden). */
  inject?: Injection;
  /** Continue after a completed phase of an earlier run of the same request. */
  resume?: ResumeState;
  /** Cross-job text-embedding cache; null disables it. Default: the process-wide LRU. */
  embeddingCache?: EmbeddingLru | null;
  /** Overrides the scheduler's schedule (tests). */
  schedule?: EulerSchedule;
  /**
   * Called (and awaited) as soon as a phase is complete, with what a consumer needs to publish it (the runner
   * uploads each phase's artifacts here, so a crash or cancel later loses none of the finished phases).
   */
  onPhase?: (phase: PhaseResult, state: PhaseState) => void | Promise<void>;
  now?: () => number;
}

/** The job-level facts that accompany a completed phase (see RunOptions.onPhase). */
export interface PhaseState {
  plan: PhasePlan;
  params: PipelineResult["params"];
  anchor: { mean: number; std: number };
  /** Phase 1's aggregated attention and the prompt's tokens (patch prompts are derived from them). */
  attention?: AttentionMap;
  tokens: string[];
  /** True for the last phase of the plan. */
  last: boolean;
}

/** What the loop carries from one phase to the next. */
interface Carried {
  spec: PhaseSpec;
  latents: Float32Array;
  image: RgbImage;
  /** Single-channel ControlNet condition of `image` (edges / 255), when the ControlNet is used. */
  condition?: Float32Array;
}

/** The phase plan a job runs: the bundle's base and the request's size and settings (shared planPhases). */
export function jobPlan(info: BundleInfo, params: PipelineParams): PhasePlan {
  return planPhases({
    width: params.width,
    height: params.height,
    base: info.baseResolution,
    vaeScaleFactor: info.vaeScaleFactor,
    progressive: params.useProgressiveUpscaling,
    fromImage: params.initImage !== undefined,
    quirks: params.quirks,
  });
}

export async function runAccDiffusion(
  models: Models,
  request: PipelineRequest,
  options: RunOptions = {},
): Promise<PipelineResult> {
  const now = options.now ?? (() => performance.now());
  const started = now();
  const params = resolveParams(models.info, request);
  if (!params.useMultiDiffusion && !params.useDilatedSampling) {
    // The reference would fuse nothing and return all-zero latents.
    throw new InvalidRequestError("at least one of MultiDiffusion and dilated sampling must be on");
  }
  const plan = jobPlan(models.info, params);
  const ctx = createJob({
    models,
    params,
    plan,
    signal: options.signal,
    onProgress: options.onProgress,
    onStep: options.onStep,
    inject: options.inject,
    lru: options.embeddingCache === undefined ? sharedEmbeddingLru : options.embeddingCache,
    schedule: options.schedule,
    now,
  });
  // Sizes whose phase-1 attention the reference cannot aggregate: refused before any model call.
  assertReferenceAttentionGrid(ctx);
  const phases: PhaseResult[] = [];

  // 1. The low-resolution result: resumed, encoded from the caller's image, or generated (phase 1).
  let carried: Carried;
  let attention: AttentionMap | undefined;
  let anchor: { mean: number; std: number };
  if (options.resume) {
    ({ carried, attention, anchor } = resume(ctx, options.resume));
  } else {
    const t0 = now();
    const base = params.initImage ? await startFromImage(ctx, params.initImage) : await generate(ctx);
    attention = base.attention;
    // The anchor statistics every upscaling phase is renormalised to (unbiased std, like torch).
    anchor = { mean: mean(base.latents), std: stdUnbiased(base.latents) };
    carried = { spec: plan.base, latents: base.latents, image: base.image };
    phases.push(
      phaseResult(ctx, plan.base, params.initImage ? "encode" : "generate", base.latents, base.image, now() - t0),
    );
  }

  // 2. Patch-content-aware prompts for every upscaling scale.
  let patches: PatchPlan | undefined;
  if (params.usePatchPrompts && attention) patches = planPatchPrompts(ctx, attention);

  // The canny condition of the low-resolution image (computed whenever the ControlNet is on, like the reference).
  withCanny(ctx, carried, phases[phases.length - 1]);
  const lastSpec = plan.upscales[plan.upscales.length - 1] ?? plan.base;
  const tokens = models.tokenize(params.prompt).tokens;
  const publish = async (res: PhaseResult | undefined) => {
    if (!res || !options.onPhase) return;
    await options.onPhase(res, { plan, params, anchor, attention, tokens, last: res.spec === lastSpec });
  };
  if (!options.resume) await publish(phases[phases.length - 1]);

  // 3. Progressive upscaling.
  const pending = plan.upscales.filter(
    (ph) => !options.resume || upscaleIndex(plan, ph.id) > resumedIndex(plan, options.resume),
  );
  for (const spec of pending) {
    const t0 = now();
    const phasePatches = patches?.byPhase.get(spec.id);
    const latents = await runUpscalePhase(
      ctx,
      spec,
      { latents: carried.latents, height: carried.spec.latentHeight, width: carried.spec.latentWidth },
      anchor,
      phaseCondition(ctx, carried, spec),
      phasePatches,
    );
    const image = await decodeLatents(
      ctx,
      latents,
      spec.latentHeight,
      spec.latentWidth,
      spec.conditionHeight,
      spec.conditionWidth,
    );
    carried = { spec, latents, image };
    const res = phaseResult(ctx, spec, "upscale", latents, image, now() - t0);
    if (phasePatches) {
      res.patchViews = phasePatches.views;
      res.patchPrompts = phasePatches.prompts;
    }
    withCanny(ctx, carried, res);
    phases.push(res);
    await publish(res);
  }

  return buildResult(ctx, phases, anchor, attention, patches, now() - started);
}

async function generate(
  ctx: JobContext,
): Promise<{ latents: Float32Array; image: RgbImage; attention?: AttentionMap }> {
  const { latents, attention } = await runBasePhase(ctx);
  const b = ctx.plan.base;
  const px = phaseOnePixels(ctx);
  const image = await decodeLatents(ctx, latents, b.latentHeight, b.latentWidth, px.height, px.width);
  // Phase 1 ends with the scheduler's index at n: resumed jobs restore exactly this (SigmaClock.markPhaseCompleted).
  return { latents, image, attention };
}

/** Canny of the carried image -> its single-channel condition; recorded on the phase's result. */
function withCanny(ctx: JobContext, carried: Carried, res: PhaseResult | undefined): void {
  if (!ctx.params.useControlNet) return;
  const { image } = carried;
  const c = cannyCondition(image.data, image.height, image.width, ctx.params.cannySigma);
  carried.condition = c.cond;
  if (res) {
    const canny: CannyResult = { ...c.canny, width: image.width, height: image.height };
    res.canny = canny;
  }
}

/**
 * The previous image's condition, bicubic-resized to this phase's pixel size: handed to the models once per phase,
 * single-channel and unpadded (the jitter padding is a number); each window batch then names only its crop boxes.
 */
function phaseCondition(ctx: JobContext, carried: Carried, spec: PhaseSpec): ControlCondition | null {
  if (!ctx.params.useControlNet || !carried.condition) return null;
  const { image } = carried;
  const H = spec.conditionHeight;
  const W = spec.conditionWidth;
  const resized = resizeCondition(carried.condition, image.height, image.width, H, W);
  const pad = jitterRange(ctx.params.window, ctx.params.stride) * ctx.info.vaeScaleFactor;
  return { data: resized, height: H, width: W, pad };
}

function phaseResult(
  ctx: JobContext,
  spec: PhaseSpec,
  kind: PhaseResult["kind"],
  latents: Float32Array,
  image: RgbImage,
  totalMs: number,
): PhaseResult {
  const calls = ctx.caller.calls.get(spec.id) ?? ctx.caller.current();
  return { id: spec.id, kind, spec, latents, image, calls, timings: { totalMs, modelMs: calls.modelMs } };
}

/** Position of an upscaling phase in the plan (-1 for the base phase). */
function upscaleIndex(plan: PhasePlan, id: number): number {
  return plan.upscales.findIndex((p) => p.id === id);
}

function resumedIndex(plan: PhasePlan, r: ResumeState): number {
  return r.phaseId === plan.base.id ? -1 : upscaleIndex(plan, r.phaseId);
}

function resume(
  ctx: JobContext,
  r: ResumeState,
): { carried: Carried; attention?: AttentionMap; anchor: { mean: number; std: number } } {
  const { plan, info, params } = ctx;
  const idx = resumedIndex(plan, r);
  const spec = idx < 0 ? plan.base : plan.upscales[idx];
  if (idx < 0 && r.phaseId !== plan.base.id)
    throw new InvalidRequestError(`phase ${r.phaseId} is not in this job's plan`);
  const n = info.latentChannels * spec.latentHeight * spec.latentWidth;
  if (r.latents.length !== n)
    throw new InvalidRequestError(`resume latents have ${r.latents.length} values, phase ${spec.id} needs ${n}`);
  const f = info.vaeScaleFactor;
  if (r.image.width !== spec.latentWidth * f || r.image.height !== spec.latentHeight * f) {
    throw new InvalidRequestError("resume image size does not match the phase");
  }
  if (params.usePatchPrompts && !r.attention && plan.upscales.some((p, i) => i > idx && p.scale >= 2)) {
    ctx.warnings.push("resumed without attention maps: patch prompts fall back to the full prompt");
  }
  // Work already done counts as done; the compat scheduler index is where a completed phase leaves it.
  ctx.progress.skip(plan.base.latentHeight * plan.base.latentWidth * params.steps);
  for (let i = 0; i <= idx; i++) {
    const p = plan.upscales[i];
    ctx.progress.skip(p.latentHeight * p.latentWidth * upscaleBranches(params) * params.steps);
  }
  ctx.clock.markPhaseCompleted();
  return {
    carried: { spec, latents: Float32Array.from(r.latents), image: r.image },
    attention: r.attention,
    anchor: { ...r.anchor },
  };
}

function buildResult(
  ctx: JobContext,
  phases: PhaseResult[],
  anchor: { mean: number; std: number },
  attention: AttentionMap | undefined,
  patches: PatchPlan | undefined,
  totalMs: number,
): PipelineResult {
  const byPhase: PipelineResult["modelCalls"]["byPhase"] = {};
  for (const [k, v] of ctx.caller.calls) byPhase[k] = v;
  const modelMs = ctx.caller.totalModelMs();
  const steps = ctx.params.steps * phases.filter((p) => p.kind !== "encode").length;
  const patchPrompts: Record<number, string[]> = {};
  const attentionViews: Record<number, View[]> = {};
  if (patches) {
    for (const [id, pp] of patches.byPhase) {
      patchPrompts[id] = pp.prompts;
      const spec = ctx.plan.upscales.find((p) => p.id === id);
      if (pp.attentionViews && spec) attentionViews[spec.scale] = pp.attentionViews;
    }
  }
  const last = phases[phases.length - 1];
  return {
    image: last.image,
    phases,
    plan: ctx.plan,
    params: ctx.params,
    anchor,
    attention,
    tokens: ctx.models.tokenize(ctx.params.prompt).tokens,
    patchPrompts,
    attentionViews,
    modelCalls: { byPhase, total: totals(ctx.caller.calls.values()) },
    timings: {
      totalMs,
      modelMs,
      pipelineMs: totalMs - modelMs,
      denoisingSteps: steps,
      pipelineMsPerStep: steps > 0 ? (totalMs - modelMs) / steps : 0,
    },
    warnings: ctx.warnings,
  };
}
