/**
 * Cross-attention maps of phase 1 -> per-token masks (AccDiffusion's "patch-content-aware prompts",
 * first half; patchPrompts.ts is the second half).
 *
 * During phase 1 the reference records every cross-attention probability map of the UNet, sums them
 * over the steps, divides by the step count and averages over heads and layers of the attention
 * resolution (height/32 x width/32 pixels). A word's mask is where its averaged map exceeds the map's
 * own mean, cleaned by an erosion then a dilation.
 *
 * Reference quirk: `aggregate_attention` reshapes the row-major pixel axis as (map_w, map_h), so for a
 * non-square image the map is the same data re-read as map_w rows of map_h columns (neither the true
 * image nor its transpose). The maps here carry their reading explicitly (`rows`, `cols`); the data is
 * the same row-major buffer either way. The `swappedAttentionReshape` quirk picks the reference's reading; the
 * default is the correct (map_h rows, map_w cols). Both agree on square maps.
 */
import type { Tensor } from "../models/types";
import { dilate3x3, erode3x3 } from "./tensor/morphology";

const f = Math.fround;

/** An averaged attention map: `data[(r * cols + c) * tokens + t]`, float32. */
export interface AttentionMap {
  data: Float32Array;
  rows: number;
  cols: number;
  tokens: number;
}

/**
 * The reference AttentionStore's state: per key ("down_cross", "mid_cross", "up_cross", "*_self") the
 * per-layer maps [prompts*heads, pixels, T], summed over `curStep` steps.
 */
export interface AttentionStoreSnapshot {
  curStep: number;
  layers: Record<string, readonly Tensor[]>;
}

/**
 * utils.aggregate_attention: every stored item divided by curStep (float32), the items of the
 * locations in `fromWhere` (in that order) whose pixel count is (height//32)*(width//32) kept, row
 * block `select` of each taken (all its heads), and the mean over all kept rows (float32 sum in
 * order, then one division). With `swappedReshape` (the reference's `swappedAttentionReshape` quirk, the
 * default here since this function exists to reproduce the reference) the result reads as [map_w rows, map_h cols].
 */
export function aggregateAttentionStore(
  store: AttentionStoreSnapshot,
  numPrompts: number,
  height: number,
  width: number,
  fromWhere: readonly string[],
  isCross: boolean,
  select: number,
  swappedReshape = true,
): AttentionMap {
  const mapH = Math.floor(height / 32);
  const mapW = Math.floor(width / 32);
  const pixels = mapH * mapW;
  const step = f(store.curStep);
  let acc: Float32Array | undefined;
  let tokens = 0;
  let count = 0;
  for (const location of fromWhere) {
    const items = store.layers[`${location}_${isCross ? "cross" : "self"}`] ?? [];
    for (const item of items) {
      if (item.shape[1] !== pixels) continue;
      const rowsTotal = item.shape[0];
      const t = item.shape[2];
      if (rowsTotal % numPrompts !== 0) throw new RangeError("aggregateAttentionStore: rows not divisible by prompts");
      const heads = rowsTotal / numPrompts;
      if (!acc) {
        tokens = t;
        acc = new Float32Array(pixels * t);
      } else if (t !== tokens) {
        throw new RangeError("aggregateAttentionStore: token counts differ between layers");
      }
      const plane = pixels * t;
      for (let hd = 0; hd < heads; hd++) {
        const base = (select * heads + hd) * plane;
        // get_average_attention divides each stored sum by cur_step before anything else.
        for (let i = 0; i < plane; i++) acc[i] = acc[i] + f(item.data[base + i] / step);
      }
      count += heads;
    }
  }
  if (!acc) throw new RangeError(`aggregateAttentionStore: no ${pixels}-pixel maps in ${fromWhere.join(", ")}`);
  const n = f(count);
  for (let i = 0; i < acc.length; i++) acc[i] = acc[i] / n;
  return swappedReshape ? { data: acc, rows: mapW, cols: mapH, tokens } : { data: acc, rows: mapH, cols: mapW, tokens };
}

/**
 * Running average of the UNet's cross-attention output over the phase-1 steps. Each `add` gets one
 * step's `UNetOutput.attention` [B, mapH*mapW, T] (already averaged over heads and layers by the
 * model) and a row (the conditioned prompt's row). Summing per step and dividing once at the end is
 * the reference's per-layer step sum / cur_step followed by the head/layer mean, reordered.
 */
export class AttentionAccumulator {
  private readonly sum: Float32Array;
  private count = 0;

  constructor(
    readonly mapH: number,
    readonly mapW: number,
    readonly tokens: number,
    readonly options: { swappedReshape?: boolean } = {},
  ) {
    this.sum = new Float32Array(mapH * mapW * tokens);
  }

  /** Number of steps added so far. */
  get steps(): number {
    return this.count;
  }

  add(attention: Tensor, row = 0): void {
    const [b, p, t] = attention.shape;
    if (p !== this.mapH * this.mapW || t !== this.tokens || attention.shape.length !== 3) {
      throw new RangeError(
        `AttentionAccumulator: expected [B, ${this.mapH * this.mapW}, ${this.tokens}], got [${attention.shape}]`,
      );
    }
    if (!(row >= 0 && row < b)) throw new RangeError(`AttentionAccumulator: row ${row} outside batch ${b}`);
    const plane = p * t;
    const base = row * plane;
    const s = this.sum;
    const src = attention.data;
    for (let i = 0; i < plane; i++) s[i] += src[base + i];
    this.count++;
  }

  /** The step-averaged map, read as (mapH, mapW) or, with swappedReshape, as (mapW, mapH). */
  result(): AttentionMap {
    if (this.count === 0) throw new RangeError("AttentionAccumulator: no step was added");
    const n = f(this.count);
    const data = new Float32Array(this.sum.length);
    for (let i = 0; i < data.length; i++) data[i] = this.sum[i] / n;
    return this.options.swappedReshape
      ? { data, rows: this.mapW, cols: this.mapH, tokens: this.tokens }
      : { data, rows: this.mapH, cols: this.mapW, tokens: this.tokens };
  }
}

/** The stages of one token's mask, as get_multidiffusion_prompts computes them. */
export interface TokenMaskStages {
  /** torch float32 mean of the token's map. */
  mean: number;
  /** (map > mean) * 255. */
  threshold: Uint8Array;
  eroded: Uint8Array;
  /** The final mask. */
  dilated: Uint8Array;
}

/** rows // 16: the reference's erode/dilate iterations (mask.shape[0] // 16). */
export function maskIterations(rows: number): number {
  return Math.floor(rows / 16);
}

/**
 * torch 1.13's CPU float32 sum of `n` strided values (SumKernel's cascade_sum -> row_sum): four
 * interleaved float32 partial sums, each a multi-level cascade that flushes a level every
 * 2^levelPower additions. Reproduced so that the `> mean` masks flip on exactly the same pixels as the
 * reference (a correctly rounded mean differs from torch's in the last bit now and then). Valid for
 * the serial path, i.e. fewer than 32768 values (torch's grain size); maps have at most 128x128.
 */
export function torchSumF32(data: Float32Array, offset: number, stride: number, n: number): number {
  const ilp = 4;
  const levels = 4;
  const size = Math.floor(n / ilp); // rows of the (-1, 4) view
  const ceilLog2 = size <= 1 ? 0 : Math.ceil(Math.log2(size));
  const levelPower = Math.max(4, Math.floor(ceilLog2 / levels));
  const levelStep = 2 ** levelPower;
  const levelMask = levelStep - 1;
  const acc = new Float32Array(levels * ilp); // acc[level * ilp + k]
  let i = 0;
  while (i + levelStep <= size) {
    for (let j = 0; j < levelStep; j++, i++) {
      const base = offset + i * ilp * stride;
      for (let k = 0; k < ilp; k++) acc[k] += data[base + k * stride];
    }
    for (let j = 1; j < levels; j++) {
      for (let k = 0; k < ilp; k++) {
        acc[j * ilp + k] += acc[(j - 1) * ilp + k];
        acc[(j - 1) * ilp + k] = 0;
      }
      if ((i & (levelMask * 2 ** (j * levelPower))) !== 0) break;
    }
  }
  for (; i < size; i++) {
    const base = offset + i * ilp * stride;
    for (let k = 0; k < ilp; k++) acc[k] += data[base + k * stride];
  }
  for (let j = 1; j < levels; j++) for (let k = 0; k < ilp; k++) acc[k] += acc[j * ilp + k];
  const partial = acc.subarray(0, ilp);
  for (let r = size * ilp; r < n; r++) partial[0] += data[offset + r * stride];
  for (let k = 1; k < ilp; k++) partial[0] += partial[k];
  return partial[0];
}

/**
 * One token's mask: strict `> mean` in float32 (torch: float32 cascade sum, then division by the
 * count in float32), then 3x3 erode and dilate with rows//16 iterations each. Masks are 0/255,
 * rows x cols.
 */
export function tokenMaskStages(map: Float32Array, rows: number, cols: number, tokens: number, token: number) {
  const n = rows * cols;
  if (map.length !== n * tokens) throw new RangeError("tokenMaskStages: map size does not match rows*cols*tokens");
  const mean = f(torchSumF32(map, token, tokens, n) / n);
  const threshold = new Uint8Array(n);
  for (let i = 0; i < n; i++) threshold[i] = map[i * tokens + token] > mean ? 255 : 0;
  const it = maskIterations(rows);
  const eroded = erode3x3(threshold, rows, cols, it);
  const dilated = dilate3x3(eroded, rows, cols, it);
  return { mean, threshold, eroded, dilated } satisfies TokenMaskStages;
}

/**
 * Per-token masks (uint8 0/255, rows x cols) of the first `count` tokens of an averaged map
 * [rows, cols, T]. The reference builds one for every token of the prompt, BOS and EOS included.
 */
export function tokenMasks(
  map: Float32Array,
  rows: number,
  cols: number,
  tokens: number,
  count = tokens,
): Uint8Array[] {
  if (count > tokens) throw new RangeError(`tokenMasks: ${count} tokens requested, map has ${tokens}`);
  const masks: Uint8Array[] = [];
  for (let i = 0; i < count; i++) masks.push(tokenMaskStages(map, rows, cols, tokens, i).dilated);
  return masks;
}
