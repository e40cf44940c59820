/**
 * Whole-tensor statistics and the renormalisation AccDiffusion applies after every upscaling phase
 * (pull the latents back to the phase-1 mean and std, which the upsampling and patch fusion drift)
 * and inside the dilated branch's Gaussian filter.
 *
 * Conventions follow torch on float32 CPU tensors: `x.mean()` and `x.std()` reduce over ALL elements,
 * std is UNBIASED (divisor N - 1), reductions accumulate in float64 and return a float32 scalar, and the
 * elementwise renormalisation rounds every op to float32.
 */

import { float32Reciprocal } from "./float32";

const f32 = Math.fround;

function meanF64(x: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i];
  return s / x.length;
}

/** Mean over all elements, as a float32 value (NaN for an empty tensor, like torch). */
export function mean(x: Float32Array): number {
  return f32(meanF64(x));
}

/** Unbiased standard deviation over all elements, as a float32 value (NaN when fewer than 2 elements). */
export function stdUnbiased(x: Float32Array): number {
  return stdAround(x, meanF64(x));
}

/** `mean(x)` and `stdUnbiased(x)` (the same values) in two passes instead of three. */
export function meanStd(x: Float32Array): { mean: number; std: number } {
  const m = meanF64(x);
  return { mean: f32(m), std: stdAround(x, m) };
}

/** Unbiased std around the float64 mean `m` of x, as float32. */
function stdAround(x: Float32Array, m: number): number {
  const n = x.length;
  if (n < 2) return Number.NaN;
  // Two passes in float64: as accurate as torch's float64 Welford, and immune to cancellation.
  let ss = 0;
  for (let i = 0; i < n; i++) {
    const d = x[i] - m;
    ss += d * d;
  }
  return f32(Math.sqrt(ss / (n - 1)));
}

/**
 * `(x - x.mean()) / x.std() * targetStd + targetMean` with unbiased std, each op rounded to float32.
 * `out` may be `x` (the statistics are taken before anything is written).
 */
export function renormalize(x: Float32Array, targetMean: number, targetStd: number, out?: Float32Array): Float32Array {
  const res = out ?? new Float32Array(x.length);
  const { mean: m, std: s } = meanStd(x);
  const tm = f32(targetMean);
  const ts = f32(targetStd);
  const rs = float32Reciprocal(s); // / s, exactly (tensor/float32.ts)
  for (let i = 0; i < x.length; i++) res[i] = f32(f32(f32(x[i] - m) * rs) * ts) + tm;
  return res;
}
