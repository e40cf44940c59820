/**
 * Scores of a high-resolution result against its low-resolution phase, measured on the images alone.
 *
 * The toy world draws flat-coloured boxes (one colour per thing) on a green lawn, and its VAE decodes every latent
 * pixel to an 8x8 block. So the scores work on a grid of "cells" (8x8 pixel means by default): each cell takes the
 * thing whose colour is nearest, and everything is counted on that class map.
 *
 * - `repetition` (lower is better): object instances the final image has beyond the low-res image, summed over the
 *   objects (an instance = a connected region of one object's class, at least `minAreaFraction` of the image; regions
 *   separated by a gap of at most one low-res cell, e.g. a window seam through an object, count as one).
 * - `structure` (higher is better): mean IoU, over the objects present in either image, between the final image's
 *   object masks and those of the bicubically upscaled low-res image (the layout the low-res phase decided).
 * - `speckle` (lower is better): cells per thousand whose class is shared by fewer than 3 of their 8 neighbours:
 *   one-cell-wide lines and dots, i.e. window seams and the dither of inconsistent dilated samples. A clean box has
 *   none (its corners have 3 same-class neighbours).
 */
import { bicubicResize } from "../src/pipeline/tensor/bicubic";
import { THINGS } from "../src/toyworld/world";

export interface Rgb8Image {
  /** uint8 RGB, row-major height x width x 3. */
  data: Uint8Array;
  width: number;
  height: number;
}

/** Colours to classify against (uint8 RGB), objects first; `background` indexes the one that is not an object. */
export interface Palette {
  names: readonly string[];
  colors: readonly (readonly [number, number, number])[];
  background: number;
}

/** The toy world's things (world.ts) as they decode: RGB in [-1, 1] mapped to uint8. */
export const TOY_PALETTE: Palette = {
  names: THINGS.map((t) => t.name),
  colors: THINGS.map((t) => t.rgb.map((v) => Math.round(((v + 1) / 2) * 255)) as unknown as [number, number, number]),
  background: THINGS.findIndex((t) => t.name === "lawn"),
};

export interface ScoreOptions {
  palette?: Palette;
  /** Cell side in pixels (8: one latent pixel of the toy world). */
  cell?: number;
  /** Smallest instance, as a fraction of the image area (default 0.0005, at least 2 cells). */
  minAreaFraction?: number;
  /**
   * Gaps of up to this many low-res cells between two regions of one class are bridged (default 1: a window seam
   * through an object does not split it). Measured at the low-res scale so both images are counted alike.
   */
  gap?: number;
}

/** Per-cell mean colours, three planes of gh*gw (float). */
export interface CellGrid {
  rgb: Float32Array;
  width: number;
  height: number;
}

/** Mean colour of every `cell` x `cell` block (a partial last row/column of blocks averages what it has). */
export function cellMeans(img: Rgb8Image, cell: number): CellGrid {
  const gw = Math.ceil(img.width / cell);
  const gh = Math.ceil(img.height / cell);
  const plane = gw * gh;
  const rgb = new Float32Array(3 * plane);
  const count = new Float32Array(plane);
  const { data, width, height } = img;
  for (let y = 0; y < height; y++) {
    const row = Math.floor(y / cell) * gw;
    for (let x = 0; x < width; x++) {
      const c = row + Math.floor(x / cell);
      const i = (y * width + x) * 3;
      rgb[c] += data[i];
      rgb[plane + c] += data[i + 1];
      rgb[2 * plane + c] += data[i + 2];
      count[c]++;
    }
  }
  for (let c = 0; c < plane; c++) {
    rgb[c] /= count[c];
    rgb[plane + c] /= count[c];
    rgb[2 * plane + c] /= count[c];
  }
  return { rgb, width: gw, height: gh };
}

/** Bicubic resize of a cell grid (PyTorch's bicubic, as the pipeline upscales). */
export function resizeCells(g: CellGrid, width: number, height: number): CellGrid {
  return { rgb: bicubicResize(g.rgb, 3, g.height, g.width, height, width), width, height };
}

/** Index of the nearest palette colour of every cell. */
export function classifyCells(g: CellGrid, palette: Palette): Int8Array {
  const plane = g.width * g.height;
  const out = new Int8Array(plane);
  const cols = palette.colors;
  for (let c = 0; c < plane; c++) {
    const r = g.rgb[c];
    const gr = g.rgb[plane + c];
    const b = g.rgb[2 * plane + c];
    let best = 0;
    let bestD = Number.POSITIVE_INFINITY;
    for (let k = 0; k < cols.length; k++) {
      const d = (r - cols[k][0]) ** 2 + (gr - cols[k][1]) ** 2 + (b - cols[k][2]) ** 2;
      if (d < bestD) {
        bestD = d;
        best = k;
      }
    }
    out[c] = best;
  }
  return out;
}

/**
 * Areas (in cells) of the connected regions of class `k`, where two cells of class k are connected when their
 * Chebyshev distance is at most `bridge` (1 = ordinary 8-connectivity).
 */
export function regionAreas(classes: Int8Array, width: number, height: number, k: number, bridge: number): number[] {
  const seen = new Uint8Array(classes.length);
  const stack = new Int32Array(classes.length);
  const areas: number[] = [];
  for (let start = 0; start < classes.length; start++) {
    if (classes[start] !== k || seen[start]) continue;
    let top = 0;
    stack[top++] = start;
    seen[start] = 1;
    let area = 0;
    while (top > 0) {
      const c = stack[--top];
      area++;
      const cy = Math.floor(c / width);
      const cx = c - cy * width;
      const y0 = Math.max(0, cy - bridge);
      const y1 = Math.min(height - 1, cy + bridge);
      const x0 = Math.max(0, cx - bridge);
      const x1 = Math.min(width - 1, cx + bridge);
      for (let y = y0; y <= y1; y++) {
        for (let x = x0; x <= x1; x++) {
          const n = y * width + x;
          if (classes[n] === k && !seen[n]) {
            seen[n] = 1;
            stack[top++] = n;
          }
        }
      }
    }
    areas.push(area);
  }
  return areas;
}

/** What the scores need from one image: its class map and, per object, the instances and area. */
export interface SceneAnalysis {
  classes: Int8Array;
  width: number;
  height: number;
  /** Instances per palette entry (0 for the background). */
  instances: number[];
}

interface Resolved {
  palette: Palette;
  cell: number;
  minAreaFraction: number;
  gap: number;
}

function resolve(o: ScoreOptions): Resolved {
  return {
    palette: o.palette ?? TOY_PALETTE,
    cell: o.cell ?? 8,
    minAreaFraction: o.minAreaFraction ?? 0.0005,
    gap: o.gap ?? 1,
  };
}

/** Chebyshev radius that bridges gaps of `gap` low-res cells on a grid `scale` times finer. */
export const bridgeRadius = (gap: number, scale: number) => Math.round(gap * scale) + 1;

function analyseClasses(classes: Int8Array, width: number, height: number, o: Resolved, scale: number): SceneAnalysis {
  const minArea = Math.max(2, o.minAreaFraction * width * height);
  const bridge = bridgeRadius(o.gap, scale);
  const instances = o.palette.colors.map((_, k) =>
    k === o.palette.background ? 0 : regionAreas(classes, width, height, k, bridge).filter((a) => a >= minArea).length,
  );
  return { classes, width, height, instances };
}

/** Class map and instance counts of an image `scale` times the low-res size (1: the low-res image itself). */
export function analyse(img: Rgb8Image, options: ScoreOptions = {}, scale = 1): SceneAnalysis {
  const o = resolve(options);
  const g = cellMeans(img, o.cell);
  return analyseClasses(classifyCells(g, o.palette), g.width, g.height, o, scale);
}

/** Excess object instances of `final` over `lowres`, summed over objects (missing objects do not offset extras). */
export function repetition(final: SceneAnalysis, lowres: SceneAnalysis): number {
  let excess = 0;
  for (let k = 0; k < final.instances.length; k++) excess += Math.max(0, final.instances[k] - lowres.instances[k]);
  return excess;
}

/** Fraction of cells (per thousand) with fewer than 3 same-class cells among their 8 neighbours (borders: 5 or 3). */
export function speckle(a: SceneAnalysis): number {
  const { classes, width, height } = a;
  let odd = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const k = classes[y * width + x];
      let same = 0;
      for (let dy = -1; dy <= 1; dy++) {
        const ny = y + dy;
        if (ny < 0 || ny >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          if ((dx === 0 && dy === 0) || nx < 0 || nx >= width) continue;
          if (classes[ny * width + nx] === k) same++;
        }
      }
      if (same < 3) odd++;
    }
  }
  return (1000 * odd) / (width * height);
}

/**
 * Mean IoU of the object masks of `final` and of `lowres` bicubically upscaled to the same cell grid, over the
 * objects present (as at least one instance) in either; 1 when neither shows an object.
 */
export function structure(final: SceneAnalysis, upscaledLowres: SceneAnalysis, palette: Palette = TOY_PALETTE): number {
  if (final.width !== upscaledLowres.width || final.height !== upscaledLowres.height) {
    throw new RangeError("structure: the class maps must have the same size");
  }
  let sum = 0;
  let n = 0;
  for (let k = 0; k < palette.colors.length; k++) {
    if (k === palette.background) continue;
    if (final.instances[k] === 0 && upscaledLowres.instances[k] === 0) continue;
    let inter = 0;
    let union = 0;
    for (let c = 0; c < final.classes.length; c++) {
      const a = final.classes[c] === k;
      const b = upscaledLowres.classes[c] === k;
      if (a && b) inter++;
      if (a || b) union++;
    }
    sum += union > 0 ? inter / union : 1;
    n++;
  }
  return n > 0 ? sum / n : 1;
}

export interface Scores {
  repetition: number;
  structure: number;
  speckle: number;
  /** Object instances in the final image (all objects together), for reading the table. */
  instances: number;
}

/** Every score of a final image against the low-res image it was upscaled from. */
export function scoreImages(final: Rgb8Image, lowres: Rgb8Image, options: ScoreOptions = {}): Scores {
  const o = resolve(options);
  const scale = final.width / lowres.width;
  const f = analyse(final, o, scale);
  const low = analyse(lowres, o);
  const up = cellMeans(lowres, o.cell);
  const upClasses = analyseClasses(
    classifyCells(resizeCells(up, f.width, f.height), o.palette),
    f.width,
    f.height,
    o,
    scale,
  );
  return {
    repetition: repetition(f, low),
    structure: structure(f, upClasses, o.palette),
    speckle: speckle(f),
    instances: f.instances.reduce((s, v) => s + v, 0),
  };
}
