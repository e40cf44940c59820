/**
 * Everything one generation job shares across its phases: resolved parameters, the phase plan, the sampler clock,
 * the counted model caller, the text cache, the random source, progress and warnings.
 */
import type { BundleInfo, Models, Tensor } from "../models/types";
import { ModelCaller } from "./modelCalls";
import type { PipelineParams } from "./params";
import type { PhasePlan, PhaseSpec } from "./phasePlan";
import { type ProgressListener, ProgressTracker } from "./progress";
import type { Injection } from "./randomness";
import { RandomSource } from "./randomness";
import { SigmaClock } from "./sampling";
import { type EulerSchedule, eulerSchedule } from "./scheduler";
import { ConditioningCache, type EmbeddingLru, JobTexts } from "./textEncoding";
import { addTimeIds, repeatTimeIds } from "./timeIds";

/** Called after every denoising step with the latents (the reference's `callback(step, t, latents)`). */
export type StepListener = (phase: number, step: number, latents: Tensor) => void;

export interface JobContext {
  readonly models: Models;
  readonly info: BundleInfo;
  readonly params: PipelineParams;
  readonly plan: PhasePlan;
  readonly schedule: EulerSchedule;
  readonly clock: SigmaClock;
  readonly caller: ModelCaller;
  readonly texts: JobTexts;
  readonly conditioning: ConditioningCache;
  readonly random: RandomSource;
  readonly progress: ProgressTracker;
  readonly warnings: string[];
  readonly onStep?: StepListener;
}

export interface JobSetup {
  models: Models;
  params: PipelineParams;
  plan: PhasePlan;
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  onStep?: StepListener;
  inject?: Injection;
  lru: EmbeddingLru | null;
  /** Overrides the schedule computed from the bundle's scheduler config (tests). */
  schedule?: EulerSchedule;
  now?: () => number;
}

export function createJob(s: JobSetup): JobContext {
  const { models, params, plan } = s;
  const info = models.info;
  const schedule = s.schedule ?? eulerSchedule(info.scheduler, params.steps);
  if (schedule.timesteps.length !== params.steps) throw new RangeError("schedule length differs from steps");
  const warnings: string[] = [];
  const caller = new ModelCaller(models, s.signal, s.now);
  const texts = new JobTexts(models, caller.encodeText, s.lru, warnings);
  return {
    models,
    info,
    params,
    plan,
    schedule,
    clock: new SigmaClock(schedule, params.quirks.staleStepIndex),
    caller,
    texts,
    conditioning: new ConditioningCache(texts, info.maxTokens, info.textEmbedDim, info.pooledDim),
    random: new RandomSource(params.seed, s.inject),
    progress: new ProgressTracker(totalWork(params, plan), s.onProgress, s.now),
    warnings,
    onStep: s.onStep,
  };
}

/** Branches evaluated per step of an upscaling phase (for progress weighting). */
export function upscaleBranches(p: PipelineParams): number {
  return (p.useMultiDiffusion ? 1 : 0) + (p.useDilatedSampling ? 1 : 0);
}

/** Work of a whole job in ProgressTracker units. */
export function totalWork(p: PipelineParams, plan: PhasePlan): number {
  let w = plan.base.latentHeight * plan.base.latentWidth * p.steps;
  for (const ph of plan.upscales) w += ph.latentHeight * ph.latentWidth * upscaleBranches(p) * p.steps;
  return w;
}

/**
 * add_time_ids of a phase, both CFG rows [2, 6], crop (0, 0); views replace the crop (viewTimeIds).
 *
 * The reference conditions every phase on original size = target size = the requested final size. That makes phase k
 * depend on the final size, so a 2048 render could not reuse the phases a 4096 render computed (the cache's purpose).
 * Without the `finalSizeTimeIds` quirk we condition each phase on its own pixel size instead, which is what SDXL sees
 * when it generates an image of that size; the quirk keeps the reference's rule (and the worker then keys the cache
 * on the final size).
 */
export function phaseTimeIds(ctx: Pick<JobContext, "params" | "info">, phase: PhaseSpec): Float32Array {
  const { params, info } = ctx;
  if (params.quirks.finalSizeTimeIds) {
    return repeatTimeIds(addTimeIds(params.height, params.width, 0, 0, params.height, params.width), 2);
  }
  const h = phase.latentHeight * info.vaeScaleFactor;
  const w = phase.latentWidth * info.vaeScaleFactor;
  return repeatTimeIds(addTimeIds(h, w, 0, 0, h, w), 2);
}
