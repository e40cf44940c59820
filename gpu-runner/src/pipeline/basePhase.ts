/**
 * Phase 1: ordinary SDXL sampling at the base resolution (aspect kept), collecting the conditioned half's
 * cross-attention maps at every step. They become the per-token masks behind the patch-content-aware prompts.
 */
import { attentionGrid } from "@accdiff/shared";
import type { Tensor } from "../models/types";
import { AttentionAccumulator, type AttentionMap, aggregateAttentionStore } from "./attention";
import { type JobContext, phaseTimeIds } from "./job";
import { cfgGuidance, cfgModelInput } from "./sampling";

const f = Math.fround;

export interface BasePhaseOutput {
  /** [1, C, h, w] final latents of phase 1 (not renormalised). */
  latents: Float32Array;
  /** Step-averaged cross-attention of the prompt, or undefined when not needed / not exported. */
  attention?: AttentionMap;
}

export async function runBasePhase(ctx: JobContext): Promise<BasePhaseOutput> {
  const { params, info, plan, clock, caller } = ctx;
  const phase = plan.base;
  const C = info.latentChannels;
  const h = phase.latentHeight;
  const w = phase.latentWidth;
  const per = C * h * w;
  caller.setPhase(phase.id);

  // prepare_latents: randn * init_noise_sigma (float32).
  const noise = ctx.random.initialNoise(per);
  const latents = new Float32Array(per);
  const sigma0 = f(ctx.schedule.initNoiseSigma);
  for (let k = 0; k < per; k++) latents[k] = f(noise[k] * sigma0);

  // encode_prompt(prompt, negative): one call in the reference.
  caller.countReferenceEncode(1);
  const cond = await ctx.conditioning.batch(params.negativePrompt, [params.prompt]);
  const timeIds = { data: phaseTimeIds(ctx, phase), shape: [2, 6] };

  const injected = ctx.random.inject.attentionStore;
  const wantAttention = params.usePatchPrompts && !injected;
  const grid = attentionGrid(ctx.info, h, w);
  let acc: AttentionAccumulator | null | undefined;

  const modelInput = new Float32Array(2 * per);
  const guided = new Float32Array(per);
  const steps = clock.steps;
  for (let i = 0; i < steps; i++) {
    const t = clock.timestep(i);
    cfgModelInput(latents, 1, per, clock.inputDivisor(i), modelInput);
    const out = await caller.unet({
      sample: { data: modelInput, shape: [2, C, h, w] },
      timestep: t,
      encoderHiddenStates: cond.encoderHiddenStates,
      textEmbeds: cond.textEmbeds,
      timeIds,
    });
    if (wantAttention && out.attention) {
      // The reference's AttentionStore keeps the conditioned half (attn[h//2:]): row 1 of the CFG pair.
      acc ??= newAccumulator(ctx, grid, out.attention.shape);
      acc?.add(out.attention, 1);
    }
    cfgGuidance(out.noise.data, 1, per, params.guidanceScale, guided);
    clock.step(i, guided, latents, latents, false);
    ctx.progress.step(phase.id, i + 1, steps, h * w);
    emitStep(ctx, phase.id, i, latents, [1, C, h, w]);
  }

  let attention: AttentionMap | undefined;
  if (injected) {
    // The golden supplies the reference AttentionStore; aggregate it as get_multidiffusion_prompts does, with the
    // phase-1 pixel size height//S x width//S.
    const px = phaseOnePixels(ctx);
    attention = aggregateAttentionStore(
      injected,
      1,
      px.height,
      px.width,
      ["up", "down"],
      true,
      0,
      params.quirks.swappedAttentionReshape,
    );
  } else if (acc) {
    attention = acc.result();
  } else if (wantAttention && acc === undefined) {
    ctx.warnings.push("the UNet exports no cross-attention maps: patch prompts fall back to the full prompt");
  }
  return { latents, attention };
}

/**
 * An accumulator for the UNet's attention output [B, pixels, T], or null (with a warning) when its pixel count is not
 * the contract's grid (attentionGrid: the UNet's own, ceil of latent / 4 per side for SDXL).
 */
export function newAccumulator(
  ctx: JobContext,
  grid: { mapH: number; mapW: number },
  shape: readonly number[],
): AttentionAccumulator | null {
  const { mapH, mapW } = grid;
  if (mapH * mapW !== shape[1]) {
    ctx.warnings.push(`attention maps of ${shape[1]} pixels do not fit a ${mapH}x${mapW} grid: patch prompts are off`);
    return null;
  }
  return new AttentionAccumulator(mapH, mapW, shape[2], { swappedReshape: ctx.params.quirks.swappedAttentionReshape });
}

/** Phase 1's pixel size as the reference passes it to get_multidiffusion_prompts (height//S, width//S). */
export function phaseOnePixels(ctx: JobContext): { height: number; width: number } {
  const { plan, params, info } = ctx;
  if (plan.referenceSizes) {
    return { height: Math.floor(params.height / plan.scaleNum), width: Math.floor(params.width / plan.scaleNum) };
  }
  return { height: plan.base.latentHeight * info.vaeScaleFactor, width: plan.base.latentWidth * info.vaeScaleFactor };
}

export function emitStep(ctx: JobContext, phase: number, step: number, latents: Float32Array, shape: number[]): void {
  if (!ctx.onStep) return;
  const t: Tensor = { data: latents, shape };
  ctx.onStep(phase, step, t);
}
