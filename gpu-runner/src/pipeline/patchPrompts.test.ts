import { REFERENCE_QUIRKS, referenceQuirks } from "@accdiff/shared";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { coverageRatios, joinWords, patchPrompts, promptsForThreshold } from "./patchPrompts";
import { resizeNearestU8 } from "./tensor/nearest";
import type { RandInt, View } from "./views";

/** A deterministic randint(low, high) stream (LCG), so two calls with one seed draw the same values. */
function lcgRandInt(seed: number): RandInt {
  let s = seed >>> 0;
  return (low, high) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return low + (s % (high - low + 1));
  };
}

function maskFrom(rows: number, cols: number, f: (y: number, x: number) => boolean): Uint8Array {
  const m = new Uint8Array(rows * cols);
  for (let y = 0; y < rows; y++) for (let x = 0; x < cols; x++) m[y * cols + x] = f(y, x) ? 255 : 0;
  return m;
}

/** numpy-style: pad the upscaled mask, slice the view (clipped), sum/255, divide. */
function bruteCoverage(
  mask: Uint8Array,
  rows: number,
  cols: number,
  frameH: number,
  frameW: number,
  pad: number,
  view: View,
  denom: number,
): number {
  const up = resizeNearestU8(mask, rows, cols, frameH, frameW);
  const ph = frameH + 2 * pad;
  const pw = frameW + 2 * pad;
  let sum = 0;
  for (let y = view[0]; y < Math.min(view[1], ph); y++)
    for (let x = view[2]; x < Math.min(view[3], pw); x++) {
      const yy = y - pad;
      const xx = x - pad;
      if (yy >= 0 && yy < frameH && xx >= 0 && xx < frameW) sum += up[yy * frameW + xx] / 255;
    }
  return sum / denom;
}

const tokens = ["<|startoftext|>", "a", "cat", "on", "sofa", "<|endoftext|>"];

describe("patchPrompts", () => {
  it("keeps a word only in the windows its mask covers enough (no jitter)", () => {
    const n = 8;
    const empty = new Uint8Array(n * n);
    const left = maskFrom(n, n, (_y, x) => x < 4); // "cat": left half of the image
    const all = new Uint8Array(n * n).fill(255); // "a": everywhere
    const masks = [all, all, left, empty, empty, all];
    const r = patchPrompts({ masks, rows: n, cols: n, tokens, c: 0.3, scaleNum: 2 });
    // Frame 16x16, window 8, stride 4: 3x3 windows at w0 = 0, 4, 8.
    expect(r.views[2]).toEqual([
      [0, 8, 0, 8],
      [0, 8, 4, 12],
      [0, 8, 8, 16],
      [4, 12, 0, 8],
      [4, 12, 4, 12],
      [4, 12, 8, 16],
      [8, 16, 0, 8],
      [8, 16, 4, 12],
      [8, 16, 8, 16],
    ]);
    // "cat" covers columns 0..7 of the 16-wide frame: fully, half, not at all.
    expect(Array.from(r.coverage[2][1])).toEqual([1, 0.5, 0, 1, 0.5, 0, 1, 0.5, 0]);
    expect(r.prompts[2]).toEqual(["a cat", "a cat", "a", "a cat", "a cat", "a", "a cat", "a cat", "a"]);
    expect(r.words).toEqual(["a", "cat", "on", "sofa"]);
  });

  it("makes prompts for every scale 2..S and draws the jitter in scale order", () => {
    const n = 8;
    const masks = tokens.map(() => new Uint8Array(n * n).fill(255));
    const calls: number[][] = [];
    const rand: RandInt = (a, b) => {
      calls.push([a, b]);
      return 0;
    };
    const r = patchPrompts({ masks, rows: n, cols: n, tokens, c: 0.5, scaleNum: 4, randInt: rand });
    expect(Object.keys(r.prompts).map(Number)).toEqual([2, 3, 4]);
    expect(r.views[3].length).toBe(25);
    expect(r.views[4].length).toBe(49);
    // 9 + 25 + 49 windows, each with a w and an h draw except where a window touches both edges (none here).
    expect(calls.length).toBe(2 * (9 + 25 + 49));
    expect(r.prompts[4].every((p) => p === "a cat on sofa")).toBe(true);
  });

  it("matches a numpy-style brute force in both modes, jittered or not (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 10 }),
        fc.integer({ min: 2, max: 10 }),
        fc.integer({ min: 2, max: 3 }),
        fc.boolean(),
        fc.boolean(),
        fc.integer(),
        (rows, cols, S, jitter, compat, seed) => {
          const masks = tokens.map((_, k) => maskFrom(rows, cols, (y, x) => ((y * 7 + x * 13 + k * 5 + seed) & 7) < 3));
          const r = patchPrompts({
            masks,
            rows,
            cols,
            tokens,
            c: 0.25,
            scaleNum: S,
            randInt: jitter ? lcgRandInt(seed) : undefined,
            quirks: referenceQuirks(compat),
          });
          const window = Math.max(rows, cols);
          for (let s = 2; s <= S; s++) {
            const frameH = (compat ? cols : rows) * s;
            const frameW = (compat ? rows : cols) * s;
            const jr = Math.floor((window - window / 2) / 4);
            const pad = !jitter ? 0 : compat ? Math.floor((cols - cols / 2) / 4) : jr;
            const ph = frameH + 2 * pad;
            const pw = frameW + 2 * pad;
            r.views[s].forEach((v, vi) => {
              const denom = compat
                ? rows * cols
                : (Math.min(v[1], ph) - Math.min(v[0], ph)) * (Math.min(v[3], pw) - Math.min(v[2], pw));
              for (let k = 1; k < masks.length - 1; k++) {
                const expected = bruteCoverage(masks[k], rows, cols, frameH, frameW, pad, v, denom);
                expect(r.coverage[s][k - 1][vi]).toBeCloseTo(expected, 12);
              }
            });
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it("gives identical results in both modes for square maps (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 12 }), fc.boolean(), fc.integer(), (n, jitter, seed) => {
        const masks = tokens.map((_, k) => maskFrom(n, n, (y, x) => ((y * 3 + x * 5 + k + seed) & 3) === 0));
        const run = (compat: boolean) =>
          patchPrompts({
            masks,
            rows: n,
            cols: n,
            tokens,
            c: 0.1,
            scaleNum: 3,
            randInt: jitter ? lcgRandInt(seed) : undefined,
            quirks: referenceQuirks(compat),
          });
        expect(run(false)).toEqual(run(true));
      }),
      { numRuns: 40 },
    );
  });

  it("stretches a non-square mask in reference mode and divides by rows*cols", () => {
    // Correct reading of a 4-high, 8-wide map; the word covers the whole map.
    const rows = 4;
    const cols = 8;
    const full = new Uint8Array(rows * cols).fill(255);
    const masks = [full, full, full, full, full, full];
    const correct = patchPrompts({ masks, rows, cols, tokens, c: 0.5, scaleNum: 2 });
    // Frame 8x16 with 8x8 windows: every window is fully covered.
    expect(correct.views[2].every(([h0, h1, w0, w1]) => h1 - h0 === 8 && w1 - w0 === 8)).toBe(true);
    expect(correct.coverage[2][0].every((v) => v === 1)).toBe(true);
    // The reference divides the 64-pixel window count by the 32 map pixels.
    const compat = patchPrompts({
      masks,
      rows: cols,
      cols: rows,
      tokens,
      c: 0.5,
      scaleNum: 2,
      quirks: REFERENCE_QUIRKS,
    });
    expect(compat.views[2]).toEqual(correct.views[2]);
    expect(compat.coverage[2][0].every((v) => v === 2)).toBe(true);
  });
});

describe("promptsForThreshold", () => {
  it("re-derives the prompts of any c from stored coverage (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 9 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer(),
        (n, c1, c2, seed) => {
          const masks = tokens.map((_, k) => maskFrom(n, n, (y, x) => ((y * 11 + x * 3 + k * 7 + seed) & 7) < 4));
          const base = { masks, rows: n, cols: n, tokens, scaleNum: 3 };
          const first = patchPrompts({ ...base, c: c1, randInt: lcgRandInt(seed) });
          const second = patchPrompts({ ...base, c: c2, randInt: lcgRandInt(seed) });
          expect(promptsForThreshold(first.words, first.coverage, c2)).toEqual(second.prompts);
        },
      ),
      { numRuns: 40 },
    );
  });

  it("keeps words with coverage >= c, in token order", () => {
    const cov = { 2: [Float64Array.from([0.5, 0.2]), Float64Array.from([0.1, 0.2])] };
    expect(promptsForThreshold(["red", "car"], cov, 0.2)).toEqual({ 2: ["red", "red car"] });
    expect(promptsForThreshold(["red", "car"], cov, 0.3)).toEqual({ 2: ["red", ""] });
    expect(promptsForThreshold(["red", "car"], cov, 0.1)).toEqual({ 2: ["red car", "red car"] });
    expect(promptsForThreshold(["red", "car"], cov, 0.6)).toEqual({ 2: ["", ""] });
  });
});

describe("joinWords", () => {
  it("behaves like ' '.join(...).split() then ' '.join", () => {
    expect(joinWords(["a", "", "b"])).toBe("a b");
    expect(joinWords(["", ""])).toBe("");
    expect(joinWords([" new\tyork ", "city"])).toBe("new york city");
    // Python treats \x1f and \x85 as whitespace.
    expect(joinWords(["x\x1fy", "z\x85"])).toBe("x y z");
  });
});

describe("coverageRatios", () => {
  it("counts the zero padding as uncovered", () => {
    const n = 4;
    const full = new Uint8Array(n * n).fill(255);
    const masks = [full, full, full];
    // Frame 8x8 padded by 1: a window shifted fully into the top-left padding corner by one pixel.
    const ratios = coverageRatios(masks, n, n, 2, [[0, 4, 0, 4]], 1, true);
    expect(ratios[0][0]).toBe(9 / 16);
  });
});
