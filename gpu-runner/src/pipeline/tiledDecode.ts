/**
 * Tiled VAE decoding, diffusers 0.21.4 `AutoencoderKL.tiled_decode` semantics.
 *
 * The reference enables VAE tiling when an image side exceeds 2048 px, so 3K-4K images decode in
 * bounded memory. The latent is cut into overlapping tiles (`tileLatentMinSize`, stride
 * `int(tileLatentMinSize * (1 - overlap))`, edge tiles clipped smaller), each is decoded alone, and
 * in row-major order each decoded tile is blended IN PLACE with its already-blended upper and left
 * neighbours by linear ramps over `blendExtent = int(tileSampleMinSize * overlap)` pixels; each
 * tile then contributes its top-left `rowLimit x rowLimit` corner to the output. Tiling only
 * happens when a latent side exceeds `tileLatentMinSize`; otherwise the latent is decoded whole.
 *
 * We decode row by row and keep only the previous row of blended tiles (what the next row blends
 * against), writing crops straight into the output: the same result as the reference, which
 * decodes every tile first, with a third of the peak memory at 4096 px.
 */
import type { Tensor } from "../models/types";
import { cropPlanes } from "./tensor/pad";

export interface VaeTilingConfig {
  /** Decoded (pixel) tile size: the VAE's `sample_size` (1024 for SDXL). */
  tileSampleMinSize: number;
  /** Latent tile size: `int(sample_size / 2**(len(block_out_channels)-1))` (128 for SDXL). */
  tileLatentMinSize: number;
  /** Overlap fraction between neighbouring tiles (0.25 in diffusers). */
  tileOverlapFactor: number;
}

/** SDXL's VAE (sample_size 1024, 4 blocks => x8): tiles of 128 latents / 1024 px, overlap 0.25. */
export const SDXL_VAE_TILING: VaeTilingConfig = {
  tileSampleMinSize: 1024,
  tileLatentMinSize: 128,
  tileOverlapFactor: 0.25,
};

/** The tiling of a VAE with `sampleSize` px tiles and `vaeScaleFactor` px per latent (toy world: 512, 8). */
export function vaeTilingFor(sampleSize: number, vaeScaleFactor: number, tileOverlapFactor = 0.25): VaeTilingConfig {
  return {
    tileSampleMinSize: sampleSize,
    tileLatentMinSize: Math.trunc(sampleSize / vaeScaleFactor),
    tileOverlapFactor,
  };
}

export interface TilePlan {
  /** False when the latent fits one tile and is decoded whole. */
  tiled: boolean;
  /** Latent stride between tile origins. */
  overlapSize: number;
  /** Pixel rows/columns blended with the neighbour. */
  blendExtent: number;
  /** Pixel rows/columns of each blended tile kept in the output. */
  rowLimit: number;
  /** Tile origins `(i, j)` in latent units, row-major; `rows` x `cols`. */
  origins: [number, number][];
  rows: number;
  cols: number;
}

/** Where the tiles go for an `h x w` latent. */
export function planTiles(h: number, w: number, cfg: VaeTilingConfig): TilePlan {
  const T = cfg.tileLatentMinSize;
  const overlapSize = Math.trunc(T * (1 - cfg.tileOverlapFactor));
  const blendExtent = Math.trunc(cfg.tileSampleMinSize * cfg.tileOverlapFactor);
  const rowLimit = cfg.tileSampleMinSize - blendExtent;
  const tiled = h > T || w > T;
  if (!tiled) return { tiled, overlapSize, blendExtent, rowLimit, origins: [[0, 0]], rows: 1, cols: 1 };
  if (overlapSize < 1) throw new RangeError(`planTiles: tile stride ${overlapSize} must be positive`);
  const origins: [number, number][] = [];
  let rows = 0;
  let cols = 0;
  for (let i = 0; i < h; i += overlapSize) {
    rows++;
    cols = 0;
    for (let j = 0; j < w; j += overlapSize) {
      cols++;
      origins.push([i, j]);
    }
  }
  return { tiled, overlapSize, blendExtent, rowLimit, origins, rows, cols };
}

/** Decodes one latent tile `[N, C, th, tw]` to pixels `[N, 3, f*th, f*tw]` (post_quant_conv included). */
export type DecodeTile = (latents: Tensor) => Promise<Tensor>;

/** `blend_v`: ramps the top rows of `b` from the bottom rows of `a` (in place on `b`). */
export function blendV(a: Tensor, b: Tensor, blendExtent: number): void {
  const [n, c, ah, aw] = a.shape;
  const [, , bh, bw] = b.shape;
  if (aw !== bw) throw new RangeError("blendV: tiles differ in width");
  const e = Math.min(ah, bh, blendExtent);
  const planes = n * c;
  for (let y = 0; y < e; y++) {
    const wa = Math.fround(1 - y / e);
    const wb = Math.fround(y / e);
    for (let p = 0; p < planes; p++) {
      const ar = (p * ah + ah - e + y) * aw;
      const br = (p * bh + y) * bw;
      for (let x = 0; x < bw; x++) b.data[br + x] = Math.fround(a.data[ar + x] * wa) + Math.fround(b.data[br + x] * wb);
    }
  }
}

/** `blend_h`: ramps the left columns of `b` from the right columns of `a` (in place on `b`). */
export function blendH(a: Tensor, b: Tensor, blendExtent: number): void {
  const [n, c, ah, aw] = a.shape;
  const [, , bh, bw] = b.shape;
  if (ah !== bh) throw new RangeError("blendH: tiles differ in height");
  const e = Math.min(aw, bw, blendExtent);
  const planes = n * c;
  // The ramp weights per column, then row by row (the same per-element arithmetic as the reference's column loop,
  // but along memory instead of across it).
  const wa = new Float64Array(e);
  const wb = new Float64Array(e);
  for (let x = 0; x < e; x++) {
    wa[x] = Math.fround(1 - x / e);
    wb[x] = Math.fround(x / e);
  }
  const ad = a.data;
  const bd = b.data;
  for (let p = 0; p < planes; p++) {
    for (let y = 0; y < bh; y++) {
      const ar = (p * ah + y) * aw + aw - e;
      const br = (p * bh + y) * bw;
      for (let x = 0; x < e; x++) bd[br + x] = Math.fround(ad[ar + x] * wa[x]) + Math.fround(bd[br + x] * wb[x]);
    }
  }
}

/**
 * Decodes `z` ([N, C, h, w] unscaled VAE latents) tile by tile with `decodeTile` and blends the
 * tiles like diffusers; decodes whole when the latent fits one tile. The decoder's upscale factor
 * is read from the first tile and every tile must follow it.
 */
export async function tiledDecode(z: Tensor, decodeTile: DecodeTile, cfg: VaeTilingConfig): Promise<Tensor> {
  const [n, c, h, w] = z.shape;
  const plan = planTiles(h, w, cfg);
  if (!plan.tiled) return decodeTile(z);
  const T = cfg.tileLatentMinSize;
  const { overlapSize, blendExtent, rowLimit, rows, cols } = plan;

  let factor = 0;
  let outC = 0;
  let out: Float32Array | null = null;
  let outH = 0;
  let outW = 0;
  let above: Tensor[] = [];
  let y0 = 0;
  for (let r = 0; r < rows; r++) {
    const i = r * overlapSize;
    const th = Math.min(T, h - i);
    const row: Tensor[] = [];
    let x0 = 0;
    let keptH = 0;
    for (let k = 0; k < cols; k++) {
      const j = k * overlapSize;
      const tw = Math.min(T, w - j);
      const latentTile: Tensor = { data: cropPlanes(z.data, n * c, h, w, i, j, th, tw), shape: [n, c, th, tw] };
      const decoded = await decodeTile(latentTile);
      // Blending mutates tiles that are kept for the next row: own a copy, whatever the decoder reuses.
      const tile: Tensor = { data: decoded.data.slice(), shape: decoded.shape };
      if (factor === 0) {
        factor = tile.shape[2] / th;
        outC = tile.shape[1];
        // Output size: the concatenated crops of every row / column of tiles.
        for (let rr = 0; rr < rows; rr++) outH += Math.min(rowLimit, factor * Math.min(T, h - rr * overlapSize));
        for (let kk = 0; kk < cols; kk++) outW += Math.min(rowLimit, factor * Math.min(T, w - kk * overlapSize));
        out = new Float32Array(n * outC * outH * outW);
      }
      const [tn, tc, dh, dw] = tile.shape;
      if (tn !== n || tc !== outC || dh !== factor * th || dw !== factor * tw) {
        throw new RangeError(`tiledDecode: tile [${tile.shape}] does not match latent tile [${th}, ${tw}] x${factor}`);
      }
      if (r > 0) blendV(above[k], tile, blendExtent);
      if (k > 0) blendH(row[k - 1], tile, blendExtent);
      row.push(tile);
      const kh = Math.min(rowLimit, dh);
      const kw = Math.min(rowLimit, dw);
      const planes = n * outC;
      for (let p = 0; p < planes; p++) {
        for (let y = 0; y < kh; y++) {
          const s = (p * dh + y) * dw;
          out!.set(tile.data.subarray(s, s + kw), (p * outH + y0 + y) * outW + x0);
        }
      }
      x0 += kw;
      keptH = kh;
    }
    above = row;
    y0 += keptH;
  }
  return { data: out!, shape: [n, outC, outH, outW] };
}
