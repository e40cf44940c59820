/**
 * The size sweep's grid: output sizes drawn from the API's own size rule (request.ts `sizeIssues`) for given limits,
 * so that the sweep (gpu-runner/src/runner/sizeSweep.*.test.ts) renders what the API accepts and nothing else.
 *
 * Shapes: every aspect ratio of SWEEP_RATIOS from maxAspect:1 to 1:maxAspect, both orientations. Long sides: the
 * domain's ends (the base resolution and maxSide), every integer multiple of the base in between, 1.5x the base
 * (a non-integer scale), and sides whose latent is odd (odd multiples of 8, like SDXL's 1000, 1288, 1352) near the
 * base and near 2.5x it. Short sides are the long side over the ratio, on the multiple-of-8 grid, rounded up when
 * rounding down would break the aspect bound. Each shape is swept at a few long sides (a Latin-square-like
 * selection, so every long side meets several shapes) to keep the sweep fast.
 */
import { DEFAULT_LIMITS, type RequestLimits, SIDE_MULTIPLE, sizeIssues } from "./request";

/** Long:short ratios the sweep renders (each in both orientations); 4:1 is DEFAULT_LIMITS.maxAspect. */
export const SWEEP_RATIOS: readonly (readonly [number, number])[] = [
  [1, 1],
  [4, 3],
  [3, 2],
  [16, 9],
  [2, 1],
  [3, 1],
  [4, 1],
];

export interface SweepSize {
  width: number;
  height: number;
  /** "3:2", "2:3", ... as asked (the sides are on the multiple-of-8 grid, so the real ratio is close to it). */
  ratio: string;
}

/** The limits of a bundle with base resolution `base`, scaled from DEFAULT_LIMITS (SDXL: 1024 px, up to 4x). */
export function limitsForBase(base: number, from: RequestLimits = DEFAULT_LIMITS): RequestLimits {
  const scale = base / from.baseResolution;
  return { ...from, baseResolution: base, maxSide: Math.round(from.maxSide * scale) };
}

const snap = (v: number) => Math.max(SIDE_MULTIPLE, Math.round(v / SIDE_MULTIPLE) * SIDE_MULTIPLE);

/** The smallest side >= v whose latent (side / 8) is odd. */
function oddLatentFrom(v: number): number {
  let s = Math.ceil(v / SIDE_MULTIPLE) * SIDE_MULTIPLE;
  if ((s / SIDE_MULTIPLE) % 2 === 0) s += SIDE_MULTIPLE;
  return s;
}

/** The sweep's long sides for these limits, ascending and within [baseResolution, maxSide]. */
export function sweepLongSides(limits: RequestLimits): number[] {
  const { baseResolution: b, maxSide } = limits;
  const sides = new Set<number>([b, maxSide, oddLatentFrom(b + 1), snap(1.5 * b), oddLatentFrom(2.5 * b)]);
  for (let k = 2; k * b <= maxSide; k++) sides.add(k * b);
  return [...sides].filter((s) => s >= b && s <= maxSide).sort((x, y) => x - y);
}

/** The short side for a long side and a long:short ratio, within the aspect bound. */
function shortSide(long: number, [a, b]: readonly [number, number], limits: RequestLimits): number {
  let short = snap((long * b) / a);
  while (long > short * limits.maxAspect) short += SIDE_MULTIPLE;
  return Math.min(short, long);
}

/** Every shape (ratio and orientation) at every long side: the full grid the selection draws from. */
export function sweepShapes(limits: RequestLimits): { ratio: string; at: (long: number) => SweepSize }[] {
  const shapes: { ratio: string; at: (long: number) => SweepSize }[] = [];
  for (const r of SWEEP_RATIOS) {
    if (r[0] / r[1] > limits.maxAspect) continue;
    const [a, b] = r;
    shapes.push({
      ratio: `${a}:${b}`,
      at: (long) => ({ width: long, height: shortSide(long, r, limits), ratio: `${a}:${b}` }),
    });
    if (a !== b) {
      shapes.push({
        ratio: `${b}:${a}`,
        at: (long) => ({ width: shortSide(long, r, limits), height: long, ratio: `${b}:${a}` }),
      });
    }
  }
  return shapes;
}

/**
 * `perShape` long sides for each shape: shape i takes long sides i, i + step, i + 2 step, ... (mod their count), with
 * `offset` shifting the whole selection (the upscale sweep uses another offset than generate). Every size is checked
 * against the API's rule; a size the rule refuses is a bug in this grid and throws.
 */
export function sweepSizes(limits: RequestLimits, perShape = 3, offset = 0): SweepSize[] {
  const longs = sweepLongSides(limits);
  const step = Math.max(1, Math.floor(longs.length / perShape));
  const out: SweepSize[] = [];
  const seen = new Set<string>();
  sweepShapes(limits).forEach((shape, i) => {
    for (let k = 0; k < Math.min(perShape, longs.length); k++) {
      const size = shape.at(longs[(i + offset + k * step) % longs.length]);
      const key = `${size.width}x${size.height}`;
      const issues = sizeIssues(size.width, size.height, limits);
      if (issues.length) throw new Error(`sweep size ${key} (${size.ratio}) is refused: ${issues[0].message}`);
      if (!seen.has(key)) out.push(size);
      seen.add(key);
    }
  });
  return out;
}
