/**
 * The two whole-latent passes of an upscaling step, each fused from several of the reference's ops (see
 * ../multiDiffusion/reference.ts for the op-by-op functions and the method): before the branches, the skip residual towards the noised upsample; after
 * them, the MultiDiffusion average with its count==0 fallback blended with the dilated branch.
 *
 * The noised upsample `noise_latents[k] = up + noise * sigmas[k]` is computed per element where it is needed instead
 * of being materialised (the fallback is needed only where no window landed). Same float32 operations in the same
 * order as `addNoise` + `skipResidual` and `addNoise` + `finishMultiDiffusion` + `blendBranches`: bit-identical
 * (stepFusion.test.ts); wasm.ts is the WebAssembly form ("in WebAssembly").
 */

import { float32Reciprocal } from "../../tensor/float32";
import type { LocalSums } from "../multiDiffusion/js";
import { branchWeights } from "./weights";

const f = Math.fround;

/** `up + noise * sigma`, the reference's noise_latents at one sigma, evaluated lazily. */
export interface NoisedUpsample {
  up: Float32Array;
  noise: Float32Array;
  sigma: number;
}

/** `latents = latents*(1-c1) + (up + noise*sigma)*c1` in place. Equals `addNoise` + `skipResidual`. */
export function skipResidualNoised(latents: Float32Array, target: NoisedUpsample, c1: number): void {
  const { up, noise } = target;
  const n = latents.length;
  if (up.length !== n || noise.length !== n) throw new RangeError("skipResidualNoised: lengths differ");
  const s = f(target.sigma);
  const keep = f(1 - c1);
  const mix = f(c1);
  for (let i = 0; i < n; i++) latents[i] = f(latents[i] * keep) + f(f(up[i] + f(noise[i] * s)) * mix);
}

/**
 * The step's output latent into `out` (which may be the latents the branches read, as they are done, but none of
 * the arrays given here: uncovered positions are finished in a second pass that rereads them). `local` holds
 * the MultiDiffusion sums; where its count is 0 the value is `fallback` (noise_latents[i+1]) with count 1. With both
 * branches: `((vl/cl)*(1-c2) + vg*c2) / ((1-c2) + c2)`; local only: `vl/cl`; global only: `vg`. Returns the number
 * of latent positions no window covered. `scratch` (plane float64s) avoids an allocation per call.
 * Equals `addNoise` + `finishMultiDiffusion` + `blendBranches`.
 */
export function fuseBranches(
  local: LocalSums | null,
  fallback: NoisedUpsample,
  global: Float32Array | null,
  c2: number,
  planes: number,
  plane: number,
  out: Float32Array,
  scratch?: Float64Array,
  covered: CoveredPass = coveredJs,
): number {
  const n = planes * plane;
  if (out.length < n) throw new RangeError("fuseBranches: out is too short");
  if (!local) {
    if (!global) throw new RangeError("fuseBranches: at least one branch is required");
    if (out !== global) out.set(global.subarray(0, n));
    return 0;
  }
  const { value, count } = local;
  const { up, noise } = fallback;
  if (out === value || out === global || out === up || out === noise) {
    throw new RangeError("fuseBranches: out must not alias an input");
  }
  const sf = f(fallback.sigma);
  const w = branchWeights(c2);
  const weights: BlendWeights = { ...w, rTotal: float32Reciprocal(w.total) };
  // Covered positions first, without a branch or the fallback's loads in the hot loop (a position whose count is 0
  // comes out as 0/0 there), then the uncovered ones again with their fallback.
  const uncovered = covered({ value, count, global, weights, planes, plane, out, scratch });
  if (uncovered > 0) {
    for (let i = 0; i < plane; i++) {
      if (count[i] !== 0) continue;
      for (let k = i; k < n; k += plane) {
        const vl = f(up[k] + f(noise[k] * sf));
        out[k] = global ? blendValue(vl, global[k], weights) : vl;
      }
    }
  }
  return uncovered;
}

/** What the covered-positions pass of fuseBranches reads and writes. */
export interface CoveredInput {
  value: Float32Array;
  count: Float32Array;
  global: Float32Array | null;
  weights: BlendWeights;
  planes: number;
  plane: number;
  out: Float32Array;
  scratch?: Float64Array;
}

/**
 * Writes every position of `out` as if a window covered it (`(value/count)` blended with `global`, or the average
 * alone) and returns how many positions have count 0. The JS form is `coveredJs`; wasm.ts has the WebAssembly one.
 */
export type CoveredPass = (input: CoveredInput) => number;

/** branchWeights(c2) and the exact float32 reciprocal of their total (tensor/float32.ts). */
export interface BlendWeights {
  local: number;
  global: number;
  total: number;
  rTotal: number;
}

/** `((vl*wl) + (vg*wg)) / total` in float32, the division as a multiplication by the exact reciprocal. */
function blendValue(vl: number, vg: number, w: BlendWeights): number {
  const v = f(f(vl * w.local) + f(vg * w.global));
  return w.total > 0 ? f(v * w.rTotal) : v;
}

export function coveredJs(input: CoveredInput): number {
  const { value, count, global, weights, planes, plane, out, scratch } = input;
  // value / count as value * (1/count) (exact, see tensor/float32.ts), one reciprocal per position for all planes.
  const rc = scratch && scratch.length >= plane ? scratch : new Float64Array(plane);
  let uncovered = 0;
  for (let i = 0; i < plane; i++) {
    const c = count[i];
    if (c === 0) uncovered++;
    rc[i] = float32Reciprocal(c);
  }
  for (let p = 0, k = 0; p < planes; p++) {
    if (global) {
      for (let i = 0; i < plane; i++, k++) out[k] = blendValue(f(value[k] * rc[i]), global[k], weights);
    } else {
      for (let i = 0; i < plane; i++, k++) out[k] = value[k] * rc[i];
    }
  }
  return uncovered;
}
