import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { blendBranches } from "../stepFusion/reference";
import { accumulateView, createAccumulator, finishMultiDiffusion, gatherViews, resetAccumulator } from "./reference";
import { clipView, type ViewBox } from "./viewBox";

const ramp = (n: number, k = 1) => Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(i * 0.7 + k) * 2));

describe("views", () => {
  it("clips like Python slicing when a view is larger than the frame", () => {
    expect(clipView([0, 16, 2, 10], 12, 8)).toEqual({ h0: 0, h1: 12, w0: 2, w1: 8 });
  });

  it("gathering non-overlapping tiles and accumulating them back rebuilds the frame", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        (planes, th, tw) => {
          const H = 2 * th;
          const W = 3 * tw;
          const src = ramp(planes * H * W);
          const views: ViewBox[] = [];
          for (let y = 0; y < H; y += th) for (let x = 0; x < W; x += tw) views.push([y, y + th, x, x + tw]);
          const batch = gatherViews(src, planes, H, W, views);
          expect([batch.h, batch.w]).toEqual([th, tw]);
          const acc = createAccumulator(planes, H, W);
          const item = planes * th * tw;
          views.forEach((v, b) => {
            accumulateView(acc, v, batch.data.subarray(b * item, (b + 1) * item));
          });
          expect(Array.from(acc.value)).toEqual(Array.from(src));
          expect(acc.count.every((c) => c === 1)).toBe(true);
        },
      ),
    );
  });
});

describe("MultiDiffusion accumulation", () => {
  it("averages overlapping views, crops the jitter pad and falls back to the next noise latent", () => {
    // Padded frame 1 plane 4x6 (jr = 1 around a 2x4 latent). Two views overlapping in column 3.
    const acc = createAccumulator(1, 4, 6);
    accumulateView(acc, [0, 3, 0, 4], new Float32Array(12).fill(2));
    accumulateView(acc, [1, 3, 3, 5], new Float32Array(4).fill(4));
    const fallback = Float32Array.from({ length: 8 }, (_, i) => 100 + i);
    const value = new Float32Array(8);
    const count = new Float32Array(8);
    const uncovered = finishMultiDiffusion(acc, 1, 2, 4, fallback, value, count);
    // Latent row 0 is padded row 1, row 1 is padded row 2; latent column x is padded column x+1.
    expect(Array.from(count)).toEqual([1, 1, 2, 1, 1, 1, 2, 1]);
    expect(Array.from(value)).toEqual([2, 2, 6, 4, 2, 2, 6, 4]);
    expect(uncovered).toBe(0);
    const out = blendBranches({ value, count }, null, 0, 1, 8, new Float32Array(8));
    expect(Array.from(out)).toEqual([2, 2, 3, 4, 2, 2, 3, 4]);

    resetAccumulator(acc);
    accumulateView(acc, [1, 2, 1, 3], new Float32Array(2).fill(5));
    const n = finishMultiDiffusion(acc, 1, 2, 4, fallback, value, count);
    expect(n).toBe(6);
    expect(Array.from(value)).toEqual([5, 5, 102, 103, 104, 105, 106, 107]);
    expect(Array.from(count)).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
  });
});
