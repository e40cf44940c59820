/**
 * A recorded run of the reference `__call__` on a real-architecture model set (`../shared/real-arch/reference/<run>`,
 * see its README): its settings, its random draws as the pipeline's Injection, and what it computed.
 *
 * Settings: the README's 2x run unless the run folder has `settings.json` (or `meta.settings`) with the reference's
 * own argument names overriding them; width, height and steps are read from the recorded tensors, so a non-square or
 * 3x recording needs no settings file, another prompt does.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { injectRecordedDraws, type RecordedRandInt } from "../golden/replay";
import type { PipelineRequest } from "../pipeline/params";
import type { Injection } from "../pipeline/randomness";
import { f32Of, readTensorManifest, type TensorManifest } from "./tensorManifest";

/** The reference's arguments (its names) of the README's `reference/2x` run. */
export const REFERENCE_2X_SETTINGS = {
  prompt: "a cat and a dog are playing on the lawn",
  negative_prompt: "blurry, ugly, duplicate, poorly drawn, deformed, mosaic",
  seed: 1,
  guidance_scale: 7.5,
  multi_guidance_scale: 7.5,
  cosine_scale_1: 3,
  cosine_scale_2: 1,
  cosine_scale_3: 1,
  sigma: 0.8,
  use_guassian: true,
  view_batch_size: 16,
  stride: 16,
  multi_decoder: true,
  use_multidiffusion: true,
  use_skip_residual: true,
  use_progressive_upscaling: true,
  use_dilated_sampling: true,
  shuffle: true,
  use_md_prompt: true,
  c: 0.3,
  use_controlnet: true,
  canny_sigma: 0.3,
  controlnet_conditioning_scale: 0.3,
  control_guidance_start: 0,
  control_guidance_end: 1,
};

export type ReferenceSettings = typeof REFERENCE_2X_SETTINGS & {
  width?: number;
  height?: number;
  num_inference_steps?: number;
};

export interface ReferenceRun {
  dir: string;
  manifest: TensorManifest;
  settings: ReferenceSettings;
  /** Phase ids in order (1, then the upscaling phases). */
  phases: number[];
  stepsPerPhase: number;
}

/** The run folders under `dir`: `dir` itself when it holds manifest.json, else its sub-folders that do. */
export function referenceRunDirs(dir: string): string[] {
  if (existsSync(join(dir, "manifest.json"))) return [dir];
  return readdirSync(dir)
    .sort()
    .map((n) => join(dir, n))
    .filter((d) => statSync(d).isDirectory() && existsSync(join(d, "manifest.json")));
}

export function readReferenceRun(dir: string): ReferenceRun {
  const manifest = readTensorManifest(dir);
  const fromFile = existsSync(join(dir, "settings.json"))
    ? JSON.parse(readFileSync(join(dir, "settings.json"), "utf8"))
    : {};
  const settings = { ...REFERENCE_2X_SETTINGS, ...(manifest.meta.settings ?? {}), ...fromFile } as ReferenceSettings;
  const byPhase = new Map<number, number>();
  for (const name of manifest.tensors.keys()) {
    const m = /^step_latents\/(\d+)\/(\d+)$/.exec(name);
    if (m) byPhase.set(Number(m[1]), Math.max(byPhase.get(Number(m[1])) ?? 0, Number(m[2]) + 1));
  }
  const phases = [...byPhase.keys()].sort((a, b) => a - b);
  if (phases[0] !== 1) throw new Error(`${dir}: no step_latents/1/* (phase 1)`);
  const stepsPerPhase = byPhase.get(1)!;
  const last = manifest.tensors.get(`images/${phases[phases.length - 1]}`);
  if (!last) throw new Error(`${dir}: no images/${phases[phases.length - 1]}`);
  settings.height ??= last.shape[0];
  settings.width ??= last.shape[1];
  settings.num_inference_steps ??= stepsPerPhase;
  return { dir, manifest, settings, phases, stepsPerPhase };
}

/** The pipeline request of the recorded run, in referenceCompat. */
export function referenceRequest(run: ReferenceRun, window: number): PipelineRequest {
  const s = run.settings;
  return {
    prompt: s.prompt,
    negativePrompt: s.negative_prompt,
    width: s.width!,
    height: s.height!,
    steps: s.num_inference_steps,
    seed: s.seed,
    guidanceScale: s.guidance_scale,
    multiGuidanceScale: s.multi_guidance_scale,
    cosineScale1: s.cosine_scale_1,
    cosineScale2: s.cosine_scale_2,
    cosineScale3: s.cosine_scale_3,
    sigma: s.sigma,
    window,
    stride: s.stride,
    viewBatchSize: s.view_batch_size,
    patchThreshold: s.c,
    cannySigma: s.canny_sigma,
    controlnetConditioningScale: s.controlnet_conditioning_scale,
    controlGuidanceStart: s.control_guidance_start,
    controlGuidanceEnd: s.control_guidance_end,
    useGaussian: s.use_guassian,
    useMultiDiffusion: s.use_multidiffusion,
    useDilatedSampling: s.use_dilated_sampling,
    useSkipResidual: s.use_skip_residual,
    useProgressiveUpscaling: s.use_progressive_upscaling,
    shuffle: s.shuffle,
    usePatchPrompts: s.use_md_prompt,
    useControlNet: s.use_controlnet,
    multiDecoder: s.multi_decoder,
    referenceCompat: true,
  };
}

/** Every recorded draw of the run as the pipeline's Injection (golden/replay.ts, shared with pipeline_trajectory). */
export function referenceInjection(run: ReferenceRun): Injection & { assertConsumed(): void } {
  const m = run.manifest;
  return injectRecordedDraws({
    initialNoise: f32Of(m, "initial_noise"),
    phaseNoise: (phase) => (m.tensors.has(`phase_noise/${phase}`) ? f32Of(m, `phase_noise/${phase}`) : undefined),
    randintCalls: (m.meta.randint_calls ?? []) as RecordedRandInt[],
    shufflePerm: (phase, step, batch) =>
      m.tensors.get(`shuffle_perms/${phase}/${step}/${batch}`) as { data: Int32Array; shape: number[] } | undefined,
  });
}
