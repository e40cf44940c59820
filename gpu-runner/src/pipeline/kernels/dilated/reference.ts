/**
 * Dilated sampling (AccDiffusion, global branch) and window interaction.
 *
 * At phase scale s the latent is split into s*s strided sub-latents `L[:, :, h::s, w::s]`, one per
 * offset (h, w) in row-major order; each is denoised as a whole low-resolution image, which gives
 * every pixel global context. The reference first zero-pads the latent on the TOP and LEFT to
 * multiples of s (so offset (0, 0) starts inside the padding when there is any), feeds the model
 * the Gaussian-filtered samples but steps the scheduler on the unfiltered ones, scatters the
 * denoised samples back, and crops `[h_pad:, w_pad:]`.
 *
 * Window interaction ("shuffle"): within one batch of B dilated samples, every element position
 * (c, y, x) gets its own permutation of the B samples, so each model input mixes pixels of all
 * offsets; the model output is un-shuffled with the inverse permutation before the scheduler step.
 *
 * Layouts: a padded latent is `planes x H x W` (planes = N*C, N = 1 in the pipeline); a batch of
 * dilated samples is `[B, planes, H/s, W/s]`.
 */

import { cropPlanes, padPlanes } from "../../tensor/pad";
import { gaussianFilterRenormalized } from "../gaussian/js";

/** A dilated-sampling offset (row, column) inside each s x s cell. */
export type DilatedOffset = readonly [h: number, w: number];

/** Top/left zero padding that makes `h x w` divisible by `s`: `(s - h % s) % s` per axis. */
export function dilatedPadding(h: number, w: number, s: number): { hPad: number; wPad: number } {
  return { hPad: (s - (h % s)) % s, wPad: (s - (w % s)) % s };
}

/** All s*s offsets in the reference's order: `for h in range(s) for w in range(s)`. */
export function dilatedOffsets(s: number): DilatedOffset[] {
  const out: DilatedOffset[] = [];
  for (let h = 0; h < s; h++) for (let w = 0; w < s; w++) out.push([h, w]);
  return out;
}

/** `F.pad(x, (wPad, 0, hPad, 0))`: zeros on the top and left only. */
export function padTopLeft(
  src: Float32Array,
  planes: number,
  h: number,
  w: number,
  hPad: number,
  wPad: number,
  out?: Float32Array,
): Float32Array {
  return padPlanes(src, planes, h, w, { top: hPad, bottom: 0, left: wPad, right: 0 }, out);
}

/** `x[:, :, hPad:, wPad:]` of a top/left padded `planes x H x W` tensor. */
export function cropTopLeft(
  src: Float32Array,
  planes: number,
  paddedH: number,
  paddedW: number,
  hPad: number,
  wPad: number,
  out?: Float32Array,
): Float32Array {
  return cropPlanes(src, planes, paddedH, paddedW, hPad, wPad, paddedH - hPad, paddedW - wPad, out);
}

function checkDivisible(fn: string, H: number, W: number, s: number): void {
  if (H % s !== 0 || W % s !== 0) throw new RangeError(`${fn}: ${H} x ${W} is not divisible by ${s}; pad first`);
}

/**
 * Gathers the dilated samples `x[:, :, h::s, w::s]` for `offsets` into a batch
 * `[offsets.length, planes, H/s, W/s]` (the reference's `torch.cat` over a view batch).
 */
export function gatherDilated(
  src: Float32Array,
  planes: number,
  H: number,
  W: number,
  s: number,
  offsets: readonly DilatedOffset[],
  out?: Float32Array,
): Float32Array {
  checkDivisible("gatherDilated", H, W, s);
  const h = H / s;
  const w = W / s;
  const item = planes * h * w;
  const dst = out ?? new Float32Array(offsets.length * item);
  if (dst.length < offsets.length * item) throw new RangeError("gatherDilated: out is too short");
  for (let b = 0; b < offsets.length; b++) {
    const [oh, ow] = offsets[b];
    for (let p = 0; p < planes; p++) {
      for (let y = 0; y < h; y++) {
        const sRow = (p * H + y * s + oh) * W + ow;
        const dRow = b * item + (p * h + y) * w;
        for (let x = 0; x < w; x++) dst[dRow + x] = src[sRow + x * s];
      }
    }
  }
  return dst;
}

/**
 * Scatter-adds a batch of denoised dilated samples back: `value[:, :, h::s, w::s] += samples[b]`
 * for each offset b (float32 addition, in place on `value`).
 */
export function scatterDilated(
  value: Float32Array,
  planes: number,
  H: number,
  W: number,
  s: number,
  offsets: readonly DilatedOffset[],
  samples: Float32Array,
): void {
  checkDivisible("scatterDilated", H, W, s);
  const h = H / s;
  const w = W / s;
  const item = planes * h * w;
  if (samples.length < offsets.length * item) throw new RangeError("scatterDilated: samples is too short");
  for (let b = 0; b < offsets.length; b++) {
    const [oh, ow] = offsets[b];
    for (let p = 0; p < planes; p++) {
      for (let y = 0; y < h; y++) {
        const vRow = (p * H + y * s + oh) * W + ow;
        const sRow = b * item + (p * h + y) * w;
        for (let x = 0; x < w; x++) value[vRow + x * s] += samples[sRow + x];
      }
    }
  }
}

/** The padded latent of one step's dilated branch and what the model sees of it. */
export interface DilatedInputs {
  readonly scale: number;
  readonly planes: number;
  readonly hPad: number;
  readonly wPad: number;
  readonly paddedH: number;
  readonly paddedW: number;
  /** L = top/left padded latent: the scheduler steps on its dilated samples. */
  readonly padded: Float32Array;
  /** G = Gaussian-filtered, renormalised L (or L itself without the filter): the model input. */
  readonly filtered: Float32Array;
  /** Mean and unbiased std of L, padding included (what G is renormalised to); NaN without the filter. */
  readonly paddedMean: number;
  readonly paddedStd: number;
}

/** The filter width the reference uses at phase scale s: `sigma * c3` in float32 (sigma cast to float32). */
export function dilatedGaussianSigma(sigma: number, c3: number): number {
  return Math.fround(Math.fround(sigma) * Math.fround(c3));
}

/**
 * Pads the step's latent (after the skip residual) on the top/left to multiples of `s` and, when
 * `gaussianSigma` is given, blurs it with kernel size `2s-1` and renormalises to L's statistics.
 * Buffers may be passed in (`padded`, `filtered`) to reuse them across steps.
 */
export function prepareDilatedInputs(
  latents: Float32Array,
  planes: number,
  h: number,
  w: number,
  s: number,
  gaussianSigma: number | null,
  buffers: { padded?: Float32Array; filtered?: Float32Array } = {},
): DilatedInputs {
  const { hPad, wPad } = dilatedPadding(h, w, s);
  const paddedH = h + hPad;
  const paddedW = w + wPad;
  const padded = padTopLeft(latents, planes, h, w, hPad, wPad, buffers.padded);
  let filtered = padded;
  let paddedMean = Number.NaN;
  let paddedStd = Number.NaN;
  if (gaussianSigma !== null) {
    filtered = buffers.filtered ?? new Float32Array(planes * paddedH * paddedW);
    const st = gaussianFilterRenormalized(padded, planes, paddedH, paddedW, 2 * s - 1, gaussianSigma, filtered);
    paddedMean = st.inputMean;
    paddedStd = st.inputStd;
  }
  return { scale: s, planes, hPad, wPad, paddedH, paddedW, padded, filtered, paddedMean, paddedStd };
}

/* ------------------------------- window interaction ------------------------------- */

/**
 * Batch gather `out[b, i] = x[index[b, i], i]` over a batch of `B` items of `n` elements each
 * (torch `x.gather(0, index)` for index of x's shape). Used both to shuffle (with the shuffle
 * index) and to un-shuffle (with its inverse). `out` must not alias `x`.
 */
export function gatherBatch(
  x: Float32Array,
  index: Int32Array,
  B: number,
  n: number,
  out?: Float32Array,
): Float32Array {
  const dst = out ?? new Float32Array(B * n);
  if (x.length < B * n || index.length < B * n || dst.length < B * n) {
    throw new RangeError("gatherBatch: arrays are shorter than B*n");
  }
  for (let b = 0; b < B; b++) {
    const row = b * n;
    for (let i = 0; i < n; i++) dst[row + i] = x[index[row + i] * n + i];
  }
  return dst;
}

/** Window interaction on the model input: `shuffled[b, i] = x[shuffleIndex[b, i], i]`. */
export function shuffleSamples(
  x: Float32Array,
  shuffleIndex: Int32Array,
  B: number,
  n: number,
  out?: Float32Array,
): Float32Array {
  return gatherBatch(x, shuffleIndex, B, n, out);
}

/** Undo window interaction on the model output: gather with the inverse permutation. */
export function unshuffleSamples(
  x: Float32Array,
  originalIndex: Int32Array,
  B: number,
  n: number,
  out?: Float32Array,
): Float32Array {
  return gatherBatch(x, originalIndex, B, n, out);
}

/**
 * The reference's `original_index`: per element column i, the inverse of the permutation
 * `shuffleIndex[:, i]` (`scatter_` of `arange(B)`). Throws if a column is not a permutation.
 */
export function invertShuffleIndex(shuffleIndex: Int32Array, B: number, n: number, out?: Int32Array): Int32Array {
  const inv = out ?? new Int32Array(B * n);
  if (shuffleIndex.length < B * n || inv.length < B * n) throw new RangeError("invertShuffleIndex: arrays too short");
  inv.fill(-1, 0, B * n);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < n; i++) {
      const t = shuffleIndex[b * n + i];
      if (t < 0 || t >= B || inv[t * n + i] !== -1) {
        throw new RangeError(`invertShuffleIndex: column ${i} is not a permutation of 0..${B - 1}`);
      }
      inv[t * n + i] = b;
    }
  }
  return inv;
}

/**
 * A fresh shuffle index `[B, n]`: an independent uniform permutation of 0..B-1 per element column,
 * drawn column by column (the reference draws `randperm(B)` once per element, in element order) with
 * Fisher-Yates from `random` (uniform in [0, 1)). The draws differ from PyTorch's generator; only
 * the distribution matters for the method.
 */
export function randomShuffleIndex(B: number, n: number, random: () => number, out?: Int32Array): Int32Array {
  const idx = out ?? new Int32Array(B * n);
  if (idx.length < B * n) throw new RangeError("randomShuffleIndex: out is too short");
  const perm = new Int32Array(B);
  for (let i = 0; i < n; i++) {
    for (let b = 0; b < B; b++) perm[b] = b;
    for (let b = B - 1; b > 0; b--) {
      const j = Math.floor(random() * (b + 1));
      const t = perm[b];
      perm[b] = perm[j];
      perm[j] = t;
    }
    for (let b = 0; b < B; b++) idx[b * n + i] = perm[b];
  }
  return idx;
}
