/**
 * The per-element work of the dilated-sampling branch, fused into two passes per batch of dilated samples.
 *
 * Op by op, the reference gathers the strided samples of L (the top/left padded latent) and of G (its Gaussian-blurred,
 * renormalised copy), shuffles G's samples with the window-interaction permutation, repeats and scales them for
 * classifier-free guidance; after the UNet it combines the guidance halves, un-shuffles, takes the Euler step on L's
 * samples and scatters the result into a zero frame that is finally cropped. Here:
 *
 *   dilatedModelInput:  G (renormalised on the fly) -> shuffled, scaled model input [2*B, planes, H/s, W/s];
 *   scatterGuided:      noise prediction -> guidance -> Euler step on L, written straight into the cropped output at
 *                       the position the shuffle index says each slot's element came from (that IS the un-shuffle:
 *                       no inverse permutation is built; padding positions are neither computed nor stored).
 *
 * Both go one row of s x s cells at a time through all B slots, so the strided latent accesses hit cache and
 * the model rows are read and written in sequential runs.
 *
 * Same float32 operations in the same order as `gatherDilated` + `renormalize` + `shuffleSamples` + `cfgModelInput`,
 * and `cfgGuidance` + `unshuffleSamples` + `eulerStep` + `scatterDilated` + `cropTopLeft` (reference.ts): bit-identical
 * (dilated.test.ts); wasm.ts is the WebAssembly form ("in WebAssembly").
 */

import { cfgValue } from "../../sampling";
import { eulerValue } from "../../scheduler";
import { float32Reciprocal } from "../../tensor/float32";
import type { GuidedStep } from "../multiDiffusion/js";
import type { DilatedOffset } from "./reference";

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

export function checkGrid(fn: string, grid: DilatedGrid): { h: number; w: number; per: number } {
  const { planes, paddedH: PH, paddedW: PW, scale: s } = grid;
  if (PH % s !== 0 || PW % s !== 0) throw new RangeError(`${fn}: ${PH} x ${PW} is not divisible by ${s}; pad first`);
  return { h: PH / s, w: PW / s, per: (planes * PH * PW) / (s * s) };
}

/** Position of each sample's element (0, 0, 0) in the padded latent: its offset within the s x s cell. */
export function offsetBases(offsets: readonly DilatedOffset[], paddedW: number): Int32Array {
  const base = new Int32Array(offsets.length);
  for (let b = 0; b < offsets.length; b++) base[b] = offsets[b][0] * paddedW + offsets[b][1];
  return base;
}

/**
 * Model input of a batch: slot b, element i = (p, y, x) holds sample `shuffle[b, i]` (b without window interaction)
 * of `g` at that element, renormalised when `renorm` is given, divided by `divisor`, in rows 2b and 2b+1.
 */
export function dilatedModelInput(
  g: Float32Array,
  grid: DilatedGrid,
  offsets: readonly DilatedOffset[],
  renorm: Renormalization | null,
  shuffle: Int32Array | null,
  divisor: number,
  out: Float32Array,
): void {
  const { planes, paddedH: PH, paddedW: PW, scale: s } = grid;
  const { h, w, per } = checkGrid("dilatedModelInput", grid);
  const B = offsets.length;
  if (out.length < 2 * B * per) throw new RangeError("dilatedModelInput: out is too short");
  if (shuffle && shuffle.length < B * per) throw new RangeError("dilatedModelInput: shuffle needs B*per entries");
  const base = offsetBases(offsets, PW);
  const m = renorm ? f(renorm.mean) : 0;
  const rsd = renorm ? float32Reciprocal(f(renorm.std)) : 1;
  const tm = renorm ? f(renorm.targetMean) : 0;
  const ts = renorm ? f(renorm.targetStd) : 1;
  const rdiv = float32Reciprocal(divisor);
  // Row-blocked: one row of cells (s latent rows) serves all B slots while it is in cache.
  for (let p = 0; p < planes; p++) {
    for (let y = 0; y < h; y++) {
      const row = (p * PH + y * s) * PW;
      const i0 = (p * h + y) * w;
      for (let b = 0; b < B; b++) {
        const d0 = 2 * b * per + i0;
        const d1 = d0 + per;
        const sh = b * per + i0;
        for (let x = 0; x < w; x++) {
          let v = g[row + x * s + base[shuffle ? shuffle[sh + x] : b]];
          if (renorm) v = f(f(f(f(v - m) * rsd) * ts) + tm);
          v = v * rdiv; // rounded by the stores: float32(v / divisor)
          out[d0 + x] = v;
          out[d1 + x] = v;
        }
      }
    }
  }
}

/**
 * After the model: for each slot b and element i, eps = uncond + scale*(text - uncond) from model rows 2b, 2b+1
 * belongs to sample o = `shuffle[b, i]` (b without window interaction): un-shuffling is writing it back where it
 * came from, so no inverse permutation is built. The Euler step of L at that element of sample o is written to
 * `out`, the unpadded `planes x (paddedH - hPad) x (paddedW - wPad)` frame (padding positions are skipped).
 */
export function scatterGuided(
  padded: Float32Array,
  grid: DilatedGrid,
  offsets: readonly DilatedOffset[],
  noise: Float32Array,
  shuffle: Int32Array | null,
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
  if (shuffle && shuffle.length < B * per) throw new RangeError("scatterGuided: shuffle needs B*per entries");
  const g = f(step.guidanceScale);
  const sg = f(step.sigma);
  const dt = f(f(step.sigmaNext) - sg);
  const rs = float32Reciprocal(sg);
  const oh = new Int32Array(B);
  const ow = new Int32Array(B);
  for (let b = 0; b < B; b++) [oh[b], ow[b]] = offsets[b];
  const rows: CellRows = { p: 0, y: 0, s, PH, PW, H, W, hPad, wPad };
  // Row-blocked like dilatedModelInput.
  for (let p = 0; p < planes; p++) {
    for (let y = 0; y < h; y++) {
      const i0 = (p * h + y) * w;
      rows.p = p;
      rows.y = y;
      for (let b = 0; b < B; b++) {
        const u = 2 * b * per + i0;
        if (shuffle) {
          stepShuffledRow(padded, noise, u, per, shuffle, b * per + i0, w, oh, ow, rows, g, sg, dt, rs, out);
          continue;
        }
        // Sample b's row: latent row y*s + oh, columns x*s + ow right of the padding.
        const py = y * s + oh[b];
        if (py < hPad) continue;
        const x0 = Math.max(0, Math.ceil((wPad - ow[b]) / s));
        const src = (p * PH + py) * PW + ow[b];
        const dst = (p * H + py - hPad) * W + ow[b] - wPad;
        for (let x = x0; x < w; x++) {
          const eps = cfgValue(noise[u + x], noise[u + per + x], g);
          // 0 + v: the reference scatters into a zero frame (turns -0 into +0).
          out[dst + x * s] = 0 + eulerValue(padded[src + x * s], eps, sg, dt, rs);
        }
      }
    }
  }
}

/** The geometry of one row of cells (plane p, sample row y) in the padded and the cropped frames. */
interface CellRows {
  p: number;
  y: number;
  s: number;
  PH: number;
  PW: number;
  H: number;
  W: number;
  hPad: number;
  wPad: number;
}

/** scatterGuided for one slot's row of elements with window interaction (each element from its own sample). */
function stepShuffledRow(
  padded: Float32Array,
  noise: Float32Array,
  u: number,
  per: number,
  shuffle: Int32Array,
  sh: number,
  w: number,
  oh: Int32Array,
  ow: Int32Array,
  r: CellRows,
  g: number,
  sg: number,
  dt: number,
  rs: number,
  out: Float32Array,
): void {
  const { p, y, s, PH, PW, H, W, hPad, wPad } = r;
  for (let x = 0; x < w; x++) {
    const o = shuffle[sh + x];
    const py = y * s + oh[o];
    const px = x * s + ow[o];
    if (py < hPad || px < wPad) continue; // cropped away
    const eps = cfgValue(noise[u + x], noise[u + per + x], g);
    out[(p * H + py - hPad) * W + px - wPad] = 0 + eulerValue(padded[(p * PH + py) * PW + px], eps, sg, dt, rs);
  }
}
