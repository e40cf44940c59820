/**
 * The per-element work of the dilated-sampling branch, fused into two passes per batch of dilated samples.
 *
 * Op by op, the reference gathers the strided samples of L (the top/left padded latent) and of G (its Gaussian-blurred,
 * renormalised copy), shuffles G's samples with the window-interaction permutation, repeats and scales them for
 * classifier-free guidance; after the UNet it combines the guidance halves, un-shuffles, takes the Euler step on L's
 * samples and scatters the result into a zero frame that is finally cropped. Here:
 *
 *   dilatedModelInput:  G (renormalised on the fly) -> shuffled, scaled model input [2*B, planes, H/s, W/s], and the
 *                       inverse permutation;
 *   scatterGuided:      noise prediction -> guidance -> un-shuffle -> Euler step on L -> written straight into the
 *                       cropped output (positions in the padding are neither computed nor stored).
 *
 * Same float32 operations in the same order as `gatherDilated` + `renormalize` + `shuffleSamples` + `cfgModelInput`,
 * and `cfgGuidance` + `unshuffleSamples` + `eulerStep` + `scatterDilated` + `cropTopLeft`: bit-identical (tested).
 */
import type { DilatedOffset } from "./dilated";
import type { GuidedStep } from "./multiDiffusionKernels";
import { cfgValue } from "./sampling";
import { eulerValue } from "./scheduler";

const f = Math.fround;

/** A top/left padded latent `planes x paddedH x paddedW` split into s*s strided samples. */
export interface DilatedGrid {
  planes: number;
  paddedH: number;
  paddedW: number;
  scale: number;
}

/**
 * The Gaussian branch's renormalisation `(g - mean)/std * targetStd + targetMean` (all float32 values: the blurred
 * tensor's statistics and the unfiltered one's, as `renormalize` computes them).
 */
export interface Renormalization {
  mean: number;
  std: number;
  targetMean: number;
  targetStd: number;
}

function offsetColumns(offsets: readonly DilatedOffset[]): { oh: Int32Array; ow: Int32Array } {
  const oh = new Int32Array(offsets.length);
  const ow = new Int32Array(offsets.length);
  for (let b = 0; b < offsets.length; b++) {
    oh[b] = offsets[b][0];
    ow[b] = offsets[b][1];
  }
  return { oh, ow };
}

function checkGrid(fn: string, grid: DilatedGrid): { h: number; w: number; per: number } {
  const { planes, paddedH: PH, paddedW: PW, scale: s } = grid;
  if (PH % s !== 0 || PW % s !== 0) throw new RangeError(`${fn}: ${PH} x ${PW} is not divisible by ${s}; pad first`);
  return { h: PH / s, w: PW / s, per: (planes * PH * PW) / (s * s) };
}

/**
 * Model input of a batch: slot b, element i = (p, y, x) holds sample `shuffle[b, i]` (b without window interaction)
 * of `g` at that element, renormalised when `renorm` is given, divided by `divisor`, in rows 2b and 2b+1.
 * With `shuffle`, `inverse[o, i] = b` records where sample o's element i went (the reference's original_index).
 */
export function dilatedModelInput(
  g: Float32Array,
  grid: DilatedGrid,
  offsets: readonly DilatedOffset[],
  renorm: Renormalization | null,
  shuffle: Int32Array | null,
  divisor: number,
  out: Float32Array,
  inverse: Int32Array | null,
): void {
  const { planes, paddedH: PH, paddedW: PW, scale: s } = grid;
  const { h, w, per } = checkGrid("dilatedModelInput", grid);
  const B = offsets.length;
  if (out.length < 2 * B * per) throw new RangeError("dilatedModelInput: out is too short");
  if (shuffle && (shuffle.length < B * per || !inverse || inverse.length < B * per)) {
    throw new RangeError("dilatedModelInput: shuffle and inverse need B*per entries");
  }
  const { oh, ow } = offsetColumns(offsets);
  const m = renorm ? f(renorm.mean) : 0;
  const sd = renorm ? f(renorm.std) : 1;
  const tm = renorm ? f(renorm.targetMean) : 0;
  const ts = renorm ? f(renorm.targetStd) : 1;
  for (let b = 0; b < B; b++) {
    const d0 = 2 * b * per;
    const d1 = d0 + per;
    const sh = b * per;
    let i = 0;
    for (let p = 0; p < planes; p++) {
      for (let y = 0; y < h; y++) {
        const row = (p * PH + y * s) * PW;
        for (let x = 0; x < w; x++, i++) {
          const o = shuffle ? shuffle[sh + i] : b;
          let v = g[row + oh[o] * PW + x * s + ow[o]];
          if (renorm) v = f(f(f(f(v - m) / sd) * ts) + tm);
          v = f(v / divisor);
          out[d0 + i] = v;
          out[d1 + i] = v;
          if (shuffle) inverse![o * per + i] = b;
        }
      }
    }
  }
}

/**
 * For each sample b of the batch (offset b): eps = uncond + scale*(text - uncond) from the model rows of the slot its
 * elements were shuffled to (`inverse[b, i]`, b without window interaction); the Euler step of L's sample; the result
 * written at the sample's positions of `out` = the unpadded `planes x (paddedH - hPad) x (paddedW - wPad)` frame.
 */
export function scatterGuided(
  padded: Float32Array,
  grid: DilatedGrid,
  offsets: readonly DilatedOffset[],
  noise: Float32Array,
  inverse: Int32Array | null,
  step: GuidedStep,
  hPad: number,
  wPad: number,
  out: Float32Array,
): void {
  const { planes, paddedH: PH, paddedW: PW, scale: s } = grid;
  const { h, w, per } = checkGrid("scatterGuided", grid);
  const B = offsets.length;
  const H = PH - hPad;
  const W = PW - wPad;
  if (noise.length < 2 * B * per) throw new RangeError("scatterGuided: noise is too short");
  if (out.length < planes * H * W) throw new RangeError("scatterGuided: out is too short");
  const g = f(step.guidanceScale);
  const sg = f(step.sigma);
  const dt = f(f(step.sigmaNext) - sg);
  for (let b = 0; b < B; b++) {
    const [oh, ow] = offsets[b];
    // Sample columns x whose position x*s + ow lies right of the padding.
    const x0 = Math.max(0, Math.ceil((wPad - ow) / s));
    for (let p = 0; p < planes; p++) {
      for (let y = 0; y < h; y++) {
        const py = y * s + oh;
        if (py < hPad) continue;
        const i0 = (p * h + y) * w;
        const src = (p * PH + py) * PW + ow;
        const dst = (p * H + py - hPad) * W + ow - wPad;
        for (let x = x0; x < w; x++) {
          const i = i0 + x;
          const t = inverse ? inverse[b * per + i] : b;
          const u = 2 * t * per + i;
          const eps = cfgValue(noise[u], noise[u + per], g);
          // 0 + v like the reference's scatter into a zero frame (turns -0 into +0).
          out[dst + x * s] = 0 + eulerValue(padded[src + x * s], eps, sg, dt);
        }
      }
    }
  }
}
