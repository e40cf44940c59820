/**
 * The Gaussian low-pass filter of AccDiffusion's dilated sampling.
 *
 * Before the dilated samples are taken, the (top/left padded) latent is blurred so that each
 * strided sub-latent carries information from its skipped neighbours; the blur is then undone in
 * scale by renormalising to the input's mean and unbiased std (all elements, padding included).
 * Reference conventions: the 1-D kernel is computed in float32 from `arange(k)` centred on
 * `(k-1)/2`, normalised once; the 2-D kernel is its outer product (not renormalised); the filter
 * is a depthwise cross-correlation with zero padding `k//2` and same-size output.
 *
 * We filter separably (columns, then rows): k*2 taps per element instead of k*k, which matters on
 * 4x512x512 latents. The difference from the 2-D kernel is float rounding only (~1e-7 relative).
 */

import { meanStd, renormalize } from "../../tensor/stats";
import { addTapsF32, addTapsF64 } from "../../tensor/tapSum";

const f = Math.fround;

/** Normalised float32 1-D Gaussian of `k` taps, exactly as the reference's `gaussian_kernel`. */
export function gaussianKernel1d(k: number, sigma: number): Float32Array {
  if (!(Number.isInteger(k) && k >= 1)) throw new RangeError(`gaussianKernel1d: k must be a positive integer (${k})`);
  const s = f(sigma);
  const denom = f(2 * f(s * s));
  const centre = (k - 1) / 2;
  const g = new Float32Array(k);
  let sum = 0;
  for (let i = 0; i < k; i++) {
    const d = f(i - centre);
    // exp(-d^2 / (2 sigma^2)) in float32; a tiny sigma underflows the off-centre taps to exactly 0.
    g[i] = f(Math.exp(f(-f(d * d) / denom)));
    sum = f(sum + g[i]);
  }
  for (let i = 0; i < k; i++) g[i] = f(g[i] / sum);
  return g;
}

/** The reference's 2-D kernel `outer(g1, g1)` (row-major k x k), float32. */
export function gaussianKernel2d(k: number, sigma: number): Float32Array {
  const g = gaussianKernel1d(k, sigma);
  const out = new Float32Array(k * k);
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) out[i * k + j] = f(g[i] * g[j]);
  return out;
}

/**
 * Depthwise Gaussian blur of `planes` row-major `h x w` planes with zero padding `k//2`.
 * `out` must not alias `src`. Returns `out` (allocated when not given). Equals the reference's 2-D depthwise
 * convolution up to float rounding (golden `gaussian_filter`) and the plain separable loops bit for bit
 * (gaussian.test.ts); wasm.ts runs the same sums in WebAssembly (wasm.test.ts).
 */
export function gaussianFilter(
  src: Float32Array,
  planes: number,
  h: number,
  w: number,
  k: number,
  sigma: number,
  out?: Float32Array,
): Float32Array {
  const dst = checkFilterArgs(src, planes, h, w, out);
  const g = gaussianKernel1d(k, sigma);
  const r = k >> 1;
  // Per output row: the column pass sums k source rows into `acc` (float64), rounds to float32 (the separable
  // intermediate is a float32 tensor) into a zero-bordered `row`, and the row pass sums k shifted views of `row`.
  // Taps are added in kernel order, at most 8 per addTaps call, so every sum is the plain loop's, bit for bit.
  const acc = new Float64Array(w);
  const row = new Float64Array(w + 2 * r);
  const plane = h * w;
  for (let p = 0; p < planes; p++) {
    const base = p * plane;
    for (let y = 0; y < h; y++) {
      // Column pass: taps whose source row lies inside the plane (rows outside are zero).
      const i0 = Math.max(0, r - y);
      const i1 = Math.min(k, h + r - y);
      acc.fill(0);
      for (let i = i0; i < i1; i += 8) addTapsF32(acc, src, base + (y + i - r) * w, w, g, i, Math.min(8, i1 - i), w);
      for (let x = 0; x < w; x++) row[r + x] = f(acc[x]);
      // Row pass over the zero-bordered row.
      acc.fill(0);
      for (let j = 0; j < k; j += 8) addTapsF64(acc, row, j, 1, g, j, Math.min(8, k - j), w);
      dst.set(acc, base + y * w);
    }
  }
  return dst;
}

/** The filter's output array (`out`, or a new one) after checking the sizes and that it does not alias `src`. */
export function checkFilterArgs(
  src: Float32Array,
  planes: number,
  h: number,
  w: number,
  out: Float32Array | undefined,
): Float32Array {
  const n = planes * h * w;
  if (src.length < n) throw new RangeError("gaussianFilter: src is shorter than planes*h*w");
  const dst = out ?? new Float32Array(n);
  if (dst.length < n) throw new RangeError("gaussianFilter: out is shorter than planes*h*w");
  if (dst.buffer === src.buffer && dst.byteOffset < src.byteOffset + n * 4 && src.byteOffset < dst.byteOffset + n * 4) {
    throw new RangeError("gaussianFilter: out must not alias src");
  }
  return dst;
}

/** Statistics the dilated branch reports alongside the filtered latent. */
export interface GaussianStats {
  /** Mean of the filter input (float32). */
  inputMean: number;
  /** Unbiased std of the filter input (float32). */
  inputStd: number;
}

/**
 * `gaussianFilter` followed by the reference's renormalisation: the blurred tensor is shifted and
 * scaled so its mean and unbiased std (over ALL elements, all planes together) equal the input's.
 * Returns the input statistics; the renormalised result is written to `out`.
 */
export function gaussianFilterRenormalized(
  src: Float32Array,
  planes: number,
  h: number,
  w: number,
  k: number,
  sigma: number,
  out: Float32Array,
): GaussianStats {
  const n = planes * h * w;
  const x = src.subarray(0, n);
  const { mean: inputMean, std: inputStd } = meanStd(x);
  const blurred = gaussianFilter(src, planes, h, w, k, sigma, out).subarray(0, n);
  renormalize(blurred, inputMean, inputStd, blurred);
  return { inputMean, inputStd };
}
