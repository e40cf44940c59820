/**
 * Object placements as separable soft boxes, built inside the graph for whatever window size the
 * model is given (positions relative to the window, sizes relative to its shorter side). A box is
 * gy(y) * gx(x), so sums of a map over every placement, and maps built from weights over
 * placements, are two matrix products each (no per-placement images).
 */
import type { Graph } from "./onnx/graph";
import { DENOISER, type ThingSpec } from "./world";

export const NUM_SIZES = DENOISER.sizes.length;
export const NUM_CENTRES = DENOISER.centres.length;
export const NUM_PLACEMENTS = NUM_SIZES * NUM_CENTRES * NUM_CENTRES;

/** Window geometry as graph values: float scalars h, w, min(h, w) and pixel-centre coordinates. */
export interface Window {
  h: string;
  w: string;
  side: string;
  /** [1, w, 1]: x + 0.5 */
  xs: string;
  /** [1, 1, h]: y + 0.5 */
  ys: string;
}

export function windowOf(g: Graph, sample: string): Window {
  const shape = g.shape(sample);
  const h = g.cast(g.gather(shape, g.i64([2], []), 0), "float");
  const w = g.cast(g.gather(shape, g.i64([3], []), 0), "float");
  const xs = g.reshape(g.shift(g.rangeTo(w), 0.5), [1, -1, 1]);
  const ys = g.reshape(g.shift(g.rangeTo(h), 0.5), [1, 1, -1]);
  return { h, w, side: g.min(h, w), xs, ys };
}

/** Box factors for one object: gx [S, w, J] and gyT [S, J, h] (S sizes, J centres per axis). */
export interface BoxTables {
  gx: string;
  gyT: string;
}

/** Soft box factors with half-sizes grown by `grow` latent pixels (negative shrinks). */
export function boxTables(g: Graph, win: Window, thing: ThingSpec, grow = 0): BoxTables {
  const k = DENOISER.edgeSharpness;
  const sizes = DENOISER.sizes;
  const halfX = g.shift(
    g.mul(
      g.f32(
        sizes.map((s) => s * thing.aspect[0]),
        [NUM_SIZES, 1, 1],
        "half_x",
      ),
      win.side,
    ),
    grow,
  );
  const halfY = g.shift(
    g.mul(
      g.f32(
        sizes.map((s) => s * thing.aspect[1]),
        [NUM_SIZES, 1, 1],
        "half_y",
      ),
      win.side,
    ),
    grow,
  );
  const cx = g.mul(g.f32(DENOISER.centres, [1, 1, NUM_CENTRES], "centre_x"), win.w);
  const cy = g.mul(g.f32(DENOISER.centres, [1, NUM_CENTRES, 1], "centre_y"), win.h);
  const gx = g.sigmoid(g.scale(g.sub(halfX, g.abs(g.sub(win.xs, cx))), k));
  const gyT = g.sigmoid(g.scale(g.sub(halfY, g.abs(g.sub(win.ys, cy))), k));
  return { gx, gyT };
}

/** Sum of a map [B, h, w] over every box: [B, S, J, J] (indexed size, centre y, centre x). */
export function sumOverBoxes(g: Graph, map: string, t: BoxTables): string {
  return g.matmul(t.gyT, g.matmul(g.unsqueeze(map, [1]), t.gx));
}

/** The map sum over placements of weight x box: weights [B, S, J, J] -> [B, h, w]. */
export function paintBoxes(g: Graph, weights: string, t: BoxTables): string {
  const gy = g.transpose(t.gyT, [0, 2, 1]);
  const gxT = g.transpose(t.gx, [0, 2, 1]);
  return g.reduceSum(g.matmul(g.matmul(gy, weights), gxT), [1], false);
}

/**
 * Log-prior of each placement of `thing` in a square window [S, J, J]: medium sizes preferred,
 * boxes sticking out of the window unlikely (but possible: a window may cut a big object).
 */
export function placementLogPrior(thing: ThingSpec): Float32Array {
  const out = new Float32Array(NUM_PLACEMENTS);
  const { sizes, centres, sizeLogPrior, overflowLogPrior } = DENOISER;
  const overflow = (c: number, half: number) => Math.max(0, half - c) + Math.max(0, c + half - 1);
  let i = 0;
  for (let s = 0; s < NUM_SIZES; s++)
    for (const cy of centres)
      for (const cx of centres) {
        const out1 = overflow(cx, sizes[s] * thing.aspect[0]) + overflow(cy, sizes[s] * thing.aspect[1]);
        out[i++] = sizeLogPrior[s] + overflowLogPrior * out1;
      }
  return out;
}
