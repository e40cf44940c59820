/**
 * The two whole-latent passes of an upscaling step, each fused from several of the reference's ops (see fusion.ts for
 * the op-by-op functions and the method): before the branches, the skip residual towards the noised upsample; after
 * them, the MultiDiffusion average with its count==0 fallback blended with the dilated branch.
 *
 * The noised upsample `noise_latents[k] = up + noise * sigmas[k]` is computed per element where it is needed instead
 * of being materialised (the fallback is needed only where no window landed). Same float32 operations in the same
 * order as `addNoise` + `skipResidual` and `addNoise` + `finishMultiDiffusion` + `blendBranches`: bit-identical
 * (tested).
 */
import { branchWeights } from "./fusion";
import type { LocalSums } from "./multiDiffusionKernels";
import { float32Reciprocal } from "./tensor/float32";

const f = Math.fround;

/** `up + noise * sigma`, the reference's noise_latents at one sigma, evaluated lazily. */
export interface NoisedUpsample {
  up: Float32Array;
  noise: Float32Array;
  sigma: number;
}

/** `latents = latents*(1-c1) + (up + noise*sigma)*c1` in place. */
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
 * The step's output latent into `out` (which may be the latents the branches read: they are done). `local` holds
 * the MultiDiffusion sums; where its count is 0 the value is `fallback` (noise_latents[i+1]) with count 1. With both
 * branches: `((vl/cl)*(1-c2) + vg*c2) / ((1-c2) + c2)`; local only: `vl/cl`; global only: `vg`. Returns the number
 * of latent positions no window covered.
 */
export function fuseBranches(
  local: LocalSums | null,
  fallback: NoisedUpsample,
  global: Float32Array | null,
  c2: number,
  planes: number,
  plane: number,
  out: Float32Array,
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
  const sf = f(fallback.sigma);
  // value / count as value * (1/count) (exact, see tensor/float32.ts): one division per position, not per element.
  let uncovered = 0;
  for (let i = 0; i < plane; i++) if (count[i] === 0) uncovered++;
  const wl = global ? branchWeights(c2).local : 1;
  const wg = global ? branchWeights(c2).global : 0;
  const total = global ? branchWeights(c2).total : 1;
  const rTotal = float32Reciprocal(total);
  for (let i = 0; i < plane; i++) {
    const c = count[i];
    const rc = float32Reciprocal(c);
    for (let k = i; k < n; k += plane) {
      const vl = c === 0 ? f(up[k] + f(noise[k] * sf)) : f(value[k] * rc);
      if (!global) {
        out[k] = vl;
        continue;
      }
      const v = f(f(vl * wl) + f(global[k] * wg));
      out[k] = total > 0 ? f(v * rTotal) : v;
    }
  }
  return uncovered;
}
