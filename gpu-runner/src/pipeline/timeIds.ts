/**
 * SDXL micro-conditioning (`add_time_ids`) and the ControlNet on/off schedule.
 *
 * In AccDiffusion each MultiDiffusion view tells the UNet where it sits in the big image through the
 * crop coordinates of its time ids, while original and target size stay the FINAL requested size in
 * every phase. (The reference computes these in float16; every value here is a multiple of 8 below
 * 16384 or a size in pixels that is a multiple of 8, all exact in float16, so float32 loses nothing.)
 */
import type { View } from "./views";

/** Values per time-id row: original h, w, crop top, left, target h, w. */
export const TIME_ID_WIDTH = 6;

/** One SDXL time-id row. */
export function addTimeIds(
  origH: number,
  origW: number,
  cropTop: number,
  cropLeft: number,
  targetH: number,
  targetW: number,
): Float32Array {
  return Float32Array.of(origH, origW, cropTop, cropLeft, targetH, targetW);
}

/** `rows` copies of one time-id row: with classifier-free guidance, [negative; positive] (identical). */
export function repeatTimeIds(ids: Float32Array, rows: number): Float32Array {
  const out = new Float32Array(rows * TIME_ID_WIDTH);
  for (let r = 0; r < rows; r++) out.set(ids.subarray(0, TIME_ID_WIDTH), r * TIME_ID_WIDTH);
  return out;
}

/**
 * Per-view time ids for one MultiDiffusion batch: for each view in order, every row of `base`
 * ([R, 6]) with the crop set to the view's start times the VAE factor. Views are in the jitter-padded
 * latent frame, and so are the crops (the reference does not subtract the padding). Returns [V*R, 6].
 */
export function viewTimeIds(base: Float32Array, views: readonly View[], vaeScaleFactor: number): Float32Array {
  const rows = base.length / TIME_ID_WIDTH;
  const out = new Float32Array(views.length * base.length);
  for (let v = 0; v < views.length; v++) {
    const [h0, , w0] = views[v];
    for (let r = 0; r < rows; r++) {
      const o = (v * rows + r) * TIME_ID_WIDTH;
      out.set(base.subarray(r * TIME_ID_WIDTH, (r + 1) * TIME_ID_WIDTH), o);
      out[o + 2] = h0 * vaeScaleFactor;
      out[o + 3] = w0 * vaeScaleFactor;
    }
  }
  return out;
}

/**
 * 1 while step i of n lies inside the ControlNet window [start, end] (as fractions of the steps), else 0:
 * `1 - (i/n < start or (i+1)/n > end)`, float64 divisions and strict comparisons like the reference.
 */
export function controlnetKeep(i: number, n: number, start: number, end: number): number {
  return i / n < start || (i + 1) / n > end ? 0 : 1;
}
