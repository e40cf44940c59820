/**
 * One progressive-upscaling phase (the reference's "Phase Upscaling" loop body): upsample the previous phase's
 * latents, noise them to every timestep (noise inversion), and denoise again, each step pulled towards the noised
 * upsample (skip residual) and fused from the local MultiDiffusion branch and the global dilated-sampling branch.
 * The result is renormalised to phase 1's latent statistics so no phase drifts in colour or contrast.
 */

import type { ControlCondition, HalfStage } from "../models/types";
import { emitStep } from "./basePhase";
import { cosineFactors } from "./cosine";
import { DilatedBranch, dilatedBufferSizes } from "./dilatedBranch";
import type { JobContext } from "./job";
import type { LocalSums } from "./kernels/multiDiffusion/js";
import { int32View, PhaseMemory, uint16View, uint32View } from "./kernels/wasm/phaseMemory";
import { stepKernelsFor } from "./kernels/wasmStepKernels";
import { localBufferSizes, MultiDiffusionBranch } from "./multiDiffusionBranch";
import type { PhasePatches } from "./patchPlan";
import type { PhaseSpec } from "./phasePlan";
import { addNoise } from "./scheduler";
import { bicubicResize } from "./tensor/bicubic";
import { renormalize } from "./tensor/stats";

export interface UpscaleInput {
  /** The previous phase's output latents [1, C, h, w] (renormalised except after phase 1). */
  latents: Float32Array;
  height: number;
  width: number;
}

export interface Anchor {
  mean: number;
  std: number;
}

/** Runs the phase and returns its renormalised output latents [1, C, H, W]. */
export async function runUpscalePhase(
  ctx: JobContext,
  phase: PhaseSpec,
  prev: UpscaleInput,
  anchor: Anchor,
  condition: ControlCondition | null,
  patches: PhasePatches | undefined,
): Promise<Float32Array> {
  const { params, info, clock, caller, schedule } = ctx;
  caller.setPhase(phase.id);
  const C = info.latentChannels;
  const H = phase.latentHeight;
  const W = phase.latentWidth;
  const n = C * H * W;
  const sigmas = schedule.sigmas;
  const steps = clock.steps;

  // The phase's latent, noised upsample and branch buffers live in one WebAssembly memory, where the kernels
  // (kernels/) work on them in place (plain arrays and the JS kernels where WebAssembly is unavailable).
  const mem = new PhaseMemory();
  const localSizes = params.useMultiDiffusion ? localBufferSizes(ctx, phase) : null;
  const globalSizes = params.useDilatedSampling ? dilatedBufferSizes(ctx, phase) : null;
  const halfRoom =
    info.dtype === "fp16" && mem.kernels ? Math.ceil(Math.max(localSizes?.input ?? 0, globalSizes?.input ?? 0) / 2) : 0;
  const buf = mem.allocate({
    latents: n,
    up: n,
    noise: n,
    localValue: localSizes?.value ?? 0,
    localCount: localSizes?.count ?? 0,
    localInput: localSizes?.input ?? 0,
    localNoise: localSizes?.noise ?? 0,
    globalOut: globalSizes?.out ?? 0,
    globalPadded: globalSizes?.padded ?? 0,
    globalFiltered: globalSizes?.filtered ?? 0,
    globalInput: globalSizes?.input ?? 0,
    globalNoise: globalSizes?.noise ?? 0,
    globalShuffle: globalSizes?.shuffle ?? 0,
    globalTable: globalSizes?.table ?? 0,
    globalWords: globalSizes?.words ?? 0,
    globalPerm: globalSizes?.perm ?? 0,
    globalGauss: globalSizes?.gauss ?? 0,
    // Half room for a batch's model input and noise prediction (fp16 models): converted in place, never copied.
    halfSample: halfRoom,
    halfNoise: halfRoom,
  });
  // The backend of every element kernel of this phase, chosen once.
  const kernels = stepKernelsFor(mem, {
    table: int32View(buf.globalTable),
    gauss: buf.globalGauss,
    perm: int32View(buf.globalPerm),
  });
  // Where the kernels run in the phase memory, an fp16 backend narrows and widens there too (models/types HalfStage).
  const halves: HalfStage | undefined =
    halfRoom > 0 && kernels.addresses(buf.halfSample, buf.halfNoise)
      ? {
          sample: uint16View(buf.halfSample),
          noise: uint16View(buf.halfNoise),
          toHalf: kernels.toHalf,
          fromHalf: kernels.fromHalf,
        }
      : undefined;
  // Bicubic latent upscale to an explicit size (F.interpolate, align_corners False).
  const up = bicubicResize(prev.latents, C, prev.height, prev.width, H, W, buf.up);
  // Noise inversion: noise_latents[k] = up + noise * sigmas[k]. The reference keeps all n of them; they are an
  // elementwise function of (up, noise, sigma_k), so each step evaluates the one it needs per element (same float32
  // values) instead of holding steps x latent floats (200 MB at 4096^2, 50 steps).
  const noise = buf.noise;
  noise.set(ctx.random.phaseNoise(phase.id, n));
  const latents = addNoise(up, noise, sigmas[0], buf.latents);

  const local = params.useMultiDiffusion
    ? new MultiDiffusionBranch(ctx, phase, patches, condition, {
        kernels,
        value: buf.localValue,
        count: buf.localCount,
        input: buf.localInput,
        noise: buf.localNoise,
        halves,
      })
    : null;
  const global = params.useDilatedSampling
    ? new DilatedBranch(ctx, phase, {
        kernels,
        out: buf.globalOut,
        padded: buf.globalPadded,
        filtered: buf.globalFiltered,
        input: buf.globalInput,
        noise: buf.globalNoise,
        shuffle: int32View(buf.globalShuffle),
        words: uint32View(buf.globalWords),
        halves,
      })
    : null;
  if (!local && !global) throw new RangeError("an upscaling phase needs MultiDiffusion or dilated sampling");

  const scratch = new Float64Array(H * W);
  for (let i = 0; i < steps; i++) {
    const t = clock.timestep(i);
    const { c1, c2 } = cosineFactors(t, params.cosineScale1, params.cosineScale2, params.cosineScale3);
    if (params.useSkipResidual) kernels.skipResidualNoised(latents, { up, noise, sigma: sigmas[i] }, c1);
    const localSums: LocalSums | null = local ? await local.run(i, latents) : null;
    const globalOut = global ? await global.run(i, latents) : null;
    // Pixels no window covers take noise_latents[i+1] (noise_latents[i] at the last step).
    const fallback = { up, noise, sigma: sigmas[i < steps - 1 ? i + 1 : i] };
    kernels.fuseBranches(localSums, fallback, globalOut, c2, C, H * W, latents, scratch);
    ctx.progress.step(phase.id, i + 1, steps, H * W * ((local ? 1 : 0) + (global ? 1 : 0)));
    emitStep(ctx, phase.id, i, latents, [1, C, H, W]);
  }
  ctx.conditioning.clear();
  ctx.caller.releaseCrops();
  // (latents - mean) / std * anchor_std + anchor_mean, unbiased stds (golden latent_renorm).
  // Into a fresh array: the phase memory does not outlive the phase.
  return renormalize(latents, anchor.mean, anchor.std, new Float32Array(n));
}
