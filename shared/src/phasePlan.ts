/**
 * Progressive upscaling: which phases run, at which sizes, with which dilation factor.
 *
 * The reference (`__call__`, "Phase Initialization" and "Phase Upscaling") derives everything from
 * S = int(max(height, width) / base) and aspect = min/max of the two scales:
 *   phase 1 at (height // S, width // S) pixels, latents floored to /8;
 *   phase s (s = 2..S, or only S without progressive upscaling, or 1..S when starting from an image) at
 *   base*s on the long side and int(base*s*aspect) on the short side, latents int(px / 8);
 *   dilated sampling of phase s uses the factor s.
 * That reaches the requested size only when the long side is an integer multiple of the base: asked for 3000^2 with
 * SDXL it returns 2048^2, and a 216x144 request with a 64-px base returns 192x128.
 *
 * Our rule (documented in the README):
 * - quirk `integerMultipleSizes`, or the long side an integer multiple of the base: the reference's sizes exactly.
 *   Outside compat the last phase is pinned to the requested size if the float expression int(base*S*aspect) ever
 *   lands one pixel short of it.
 * - otherwise (the faithful generalisation): L = long / base and S = round(L) (at least 1). S = 1 renders phase 1
 *   directly at the requested size (what the reference does for any 1 <= L < 2). Otherwise phase 1 is at the base size
 *   (aspect kept, short side rounded to a whole latent), the intermediate phases 2..S-1 at integer multiples of it,
 *   and the last phase at exactly width x height with the integer dilation factor S, so each dilated sample is within
 *   [0.83, 1.25] x the UNet's native size, as at integer multiples (exactly 1x).
 */

import type { ReferenceQuirks } from "./referenceQuirks";

export interface PhaseSpec {
  /**
   * Phase key as the reference numbers them: 1 = generated base phase, s = upscaling at scale s. A base phase that
   * encodes the caller's image is 0, since the reference then runs an upscaling phase at scale 1.
   */
  id: number;
  /** Dilation factor / the reference's current_scale_num (1 for the base phase). */
  scale: number;
  latentHeight: number;
  latentWidth: number;
  /**
   * Pixel size the previous phase's canny condition is resized to. The reference uses current_height/width, which
   * need not be multiples of 8 (then the condition is slightly stretched against the latent grid); outside compat we
   * use latent * 8 so that every patch's condition crop is pixel-aligned with its latent crop.
   */
  conditionHeight: number;
  conditionWidth: number;
}

export interface PhasePlan {
  /** The reference's scale_num (S): the largest dilation factor; patch prompts are made for scales 2..S. */
  scaleNum: number;
  /** min(hs, ws) / max(hs, ws) in float64, as the reference. */
  aspect: number;
  /** True when the sizes are the reference's (integer multiple of the base, or compat). */
  referenceSizes: boolean;
  /** The base phase (generated, or the encoded init image): scale 1. */
  base: PhaseSpec;
  /** Upscaling phases in order. */
  upscales: PhaseSpec[];
  /** Size of the final image (the last phase's latents * 8). Equals the request unless compat says otherwise. */
  outputHeight: number;
  outputWidth: number;
}

export interface PlanInput {
  width: number;
  height: number;
  /** Base resolution in pixels (bundle.baseResolution). */
  base: number;
  vaeScaleFactor: number;
  progressive: boolean;
  /** Start from an image: the reference then runs a scale-1 phase first when progressive. */
  fromImage: boolean;
  /** The reference's size rules (referenceQuirks.ts). */
  quirks: Pick<ReferenceQuirks, "integerMultipleSizes" | "conditionAtPixelSize">;
}

export class UnsupportedSizeError extends Error {
  override name = "UnsupportedSizeError";
}

export function planPhases(inp: PlanInput): PhasePlan {
  const { width, height, base } = inp;
  const longSide = Math.max(width, height);
  const integerMultiple = longSide % base === 0 && longSide >= base;
  return inp.quirks.integerMultipleSizes || integerMultiple ? referencePlan(inp) : generalisedPlan(inp);
}

/** Scales of the upscaling phases, as `range(starting_scale, scale_num + 1)` in the reference. */
function upscaleScales(scaleNum: number, progressive: boolean, fromImage: boolean): number[] {
  const start = progressive ? (fromImage ? 1 : 2) : scaleNum;
  const out: number[] = [];
  for (let s = start; s <= scaleNum; s++) out.push(s);
  return out;
}

function referencePlan(inp: PlanInput): PhasePlan {
  const { width, height, base, vaeScaleFactor: f } = inp;
  const hs = height / base;
  const ws = width / base;
  const scaleNum = Math.trunc(Math.max(hs, ws));
  if (scaleNum < 1) {
    // The reference divides by zero here; we refuse rather than guess in compat mode.
    throw new UnsupportedSizeError(`reference sizes need max(width, height) >= base (${base}), got ${width}x${height}`);
  }
  const aspect = Math.min(hs, ws) / Math.max(hs, ws);
  const h1 = Math.floor(height / scaleNum);
  const w1 = Math.floor(width / scaleNum);
  const baseSpec: PhaseSpec = {
    id: inp.fromImage ? 0 : 1,
    scale: 1,
    latentHeight: Math.floor(h1 / f),
    latentWidth: Math.floor(w1 / f),
    conditionHeight: h1 - (h1 % f),
    conditionWidth: w1 - (w1 % f),
  };
  const upscales = upscaleScales(scaleNum, inp.progressive, inp.fromImage).map((s): PhaseSpec => {
    let ch = base * s;
    let cw = base * s;
    if (height > width) cw = Math.trunc(cw * aspect);
    else ch = Math.trunc(ch * aspect);
    const lh = Math.trunc(ch / f);
    const lw = Math.trunc(cw / f);
    return {
      id: s,
      scale: s,
      latentHeight: lh,
      latentWidth: lw,
      conditionHeight: inp.quirks.conditionAtPixelSize ? ch : lh * f,
      conditionWidth: inp.quirks.conditionAtPixelSize ? cw : lw * f,
    };
  });
  const plan: PhasePlan = {
    scaleNum,
    aspect,
    referenceSizes: true,
    base: baseSpec,
    upscales,
    outputHeight: 0,
    outputWidth: 0,
  };
  if (!inp.quirks.integerMultipleSizes) pinLastPhase(plan, inp);
  setOutput(plan, f);
  return plan;
}

/** Outside compat the output is exactly the request: fix a float-rounding miss of the reference's last phase. */
function pinLastPhase(plan: PhasePlan, inp: PlanInput): void {
  const f = inp.vaeScaleFactor;
  const last = plan.upscales.length > 0 ? plan.upscales[plan.upscales.length - 1] : plan.base;
  last.latentHeight = inp.height / f;
  last.latentWidth = inp.width / f;
  last.conditionHeight = inp.height;
  last.conditionWidth = inp.width;
}

function setOutput(plan: PhasePlan, f: number): void {
  const last = plan.upscales.length > 0 ? plan.upscales[plan.upscales.length - 1] : plan.base;
  plan.outputHeight = last.latentHeight * f;
  plan.outputWidth = last.latentWidth * f;
}

function generalisedPlan(inp: PlanInput): PhasePlan {
  const { width, height, base, vaeScaleFactor: f } = inp;
  const longSide = Math.max(width, height);
  const L = longSide / base;
  const scaleNum = Math.max(1, Math.round(L));
  const aspect = Math.min(width, height) / longSide;
  const exact = (id: number, scale: number): PhaseSpec => ({
    id,
    scale,
    latentHeight: height / f,
    latentWidth: width / f,
    conditionHeight: height,
    conditionWidth: width,
  });
  /** Integer multiple s of the base on the long side, aspect kept, short side rounded to a whole latent. */
  const atScale = (s: number): PhaseSpec => {
    const longLatent = Math.round((base * s) / f);
    const shortLatent = Math.max(1, Math.round(longLatent * aspect));
    const lh = height >= width ? longLatent : shortLatent;
    const lw = height >= width ? shortLatent : longLatent;
    return { id: s, scale: s, latentHeight: lh, latentWidth: lw, conditionHeight: lh * f, conditionWidth: lw * f };
  };
  const baseSpec = scaleNum === 1 ? exact(1, 1) : atScale(1);
  if (inp.fromImage) baseSpec.id = 0;
  const upscales = upscaleScales(scaleNum, inp.progressive, inp.fromImage).map((s) =>
    s === scaleNum ? exact(s, s) : atScale(s),
  );
  const plan: PhasePlan = {
    scaleNum,
    aspect,
    referenceSizes: false,
    base: baseSpec,
    upscales,
    outputHeight: 0,
    outputWidth: 0,
  };
  setOutput(plan, f);
  return plan;
}
