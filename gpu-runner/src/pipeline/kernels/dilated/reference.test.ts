import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { shuffleIndexFromWords } from "../shuffle/js";
import {
  cropTopLeft,
  dilatedGaussianSigma,
  dilatedOffsets,
  dilatedPadding,
  gatherDilated,
  invertShuffleIndex,
  padTopLeft,
  prepareDilatedInputs,
  randomShuffleIndex,
  scatterDilated,
  shuffleSamples,
  unshuffleSamples,
} from "./reference";

/** Small deterministic uniform source for tests (mulberry32). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("dilated sampling layout", () => {
  it("pads to multiples of s and lists offsets row-major", () => {
    expect(dilatedPadding(22, 17, 3)).toEqual({ hPad: 2, wPad: 1 });
    expect(dilatedPadding(24, 21, 2)).toEqual({ hPad: 0, wPad: 1 });
    expect(dilatedOffsets(2)).toEqual([
      [0, 0],
      [0, 1],
      [1, 0],
      [1, 1],
    ]);
  });

  it("pads on the top and left only", () => {
    const y = padTopLeft(Float32Array.of(1, 2, 3, 4), 1, 2, 2, 1, 1);
    expect(Array.from(y)).toEqual([0, 0, 0, 0, 1, 2, 0, 3, 4]);
    expect(Array.from(cropTopLeft(y, 1, 3, 3, 1, 1))).toEqual([1, 2, 3, 4]);
  });

  it("gathers x[:, :, h::s, w::s] per offset", () => {
    // 1 plane 4x4 holding its own flat index; s = 2.
    const x = Float32Array.from({ length: 16 }, (_, i) => i);
    const b = gatherDilated(x, 1, 4, 4, 2, dilatedOffsets(2));
    expect(Array.from(b)).toEqual([0, 2, 8, 10, 1, 3, 9, 11, 4, 6, 12, 14, 5, 7, 13, 15]);
  });

  it("scatter of the gathered samples of all offsets reproduces the tensor (a partition)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        (s, planes, hs, ws) => {
          const H = hs * s;
          const W = ws * s;
          const x = Float32Array.from({ length: planes * H * W }, (_, i) => Math.fround(Math.sin(i) * 3));
          const offsets = dilatedOffsets(s);
          const batch = gatherDilated(x, planes, H, W, s, offsets);
          const value = new Float32Array(x.length);
          scatterDilated(value, planes, H, W, s, offsets, batch);
          expect(Array.from(value)).toEqual(Array.from(x));
        },
      ),
    );
  });

  it("scatter accumulates (+=) and rejects non-divisible sizes", () => {
    const value = new Float32Array(4).fill(1);
    scatterDilated(value, 1, 2, 2, 2, [[1, 0]], Float32Array.of(5));
    expect(Array.from(value)).toEqual([1, 1, 6, 1]);
    expect(() => gatherDilated(new Float32Array(6), 1, 2, 3, 2, [[0, 0]])).toThrow(RangeError);
  });
});

describe("window interaction", () => {
  it("draws a bijection per element column and its exact inverse", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 40 }), fc.integer(), (B, n, seed) => {
        const idx = randomShuffleIndex(B, n, mulberry32(seed));
        for (let i = 0; i < n; i++) {
          const seen = new Set<number>();
          for (let b = 0; b < B; b++) seen.add(idx[b * n + i]);
          expect(seen.size).toBe(B);
          for (const v of seen) expect(v >= 0 && v < B).toBe(true);
        }
        const inv = invertShuffleIndex(idx, B, n);
        for (let b = 0; b < B; b++) {
          for (let i = 0; i < n; i++) expect(idx[inv[b * n + i] * n + i]).toBe(b);
        }
      }),
    );
  });

  it("unshuffle(shuffle(x)) == x exactly", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 40 }), fc.integer(), (B, n, seed) => {
        const rand = mulberry32(seed);
        const x = Float32Array.from({ length: B * n }, () => Math.fround(rand() * 10 - 5));
        const idx = randomShuffleIndex(B, n, rand);
        const shuffled = shuffleSamples(x, idx, B, n);
        expect(Array.from(unshuffleSamples(shuffled, invertShuffleIndex(idx, B, n), B, n))).toEqual(Array.from(x));
        // Each column of the shuffled batch is a rearrangement of the same column of x.
        for (let i = 0; i < n; i++) {
          const a = [];
          const b = [];
          for (let k = 0; k < B; k++) {
            a.push(x[k * n + i]);
            b.push(shuffled[k * n + i]);
          }
          expect(b.sort()).toEqual(a.sort());
        }
      }),
    );
  });

  it("mixes samples (not the identity) for a batch larger than one", () => {
    const idx = randomShuffleIndex(4, 200, mulberry32(1));
    let moved = 0;
    for (let b = 0; b < 4; b++) for (let i = 0; i < 200; i++) if (idx[b * 200 + i] !== b) moved++;
    // A uniform permutation of 4 leaves on average 1 of 4 in place.
    expect(moved).toBeGreaterThan(400);
  });

  it("rejects an index that is not a permutation", () => {
    expect(() => invertShuffleIndex(Int32Array.of(0, 0), 2, 1)).toThrow(RangeError);
  });
});

describe("shuffleIndexFromWords", () => {
  it("draws exactly what randomShuffleIndex draws with random() = word * 2^-32", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 17 }), fc.integer({ min: 1, max: 40 }), fc.nat(), (B, n, seed) => {
        const words = new Uint32Array((B - 1) * n);
        let a = seed >>> 0;
        for (let k = 0; k < words.length; k++) {
          a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
          words[k] = k % 7 === 0 ? 0xffffffff : a; // the largest word must not reach index b+1
        }
        let k = 0;
        const viaClosure = randomShuffleIndex(B, n, () => words[k++] * 2 ** -32);
        expect(Array.from(shuffleIndexFromWords(B, n, words))).toEqual(Array.from(viaClosure));
      }),
    );
  });
});

describe("prepareDilatedInputs", () => {
  it("pads top/left and, without the filter, feeds the model the padded latent itself", () => {
    const x = Float32Array.from({ length: 2 * 5 * 4 }, (_, i) => i);
    const d = prepareDilatedInputs(x, 2, 5, 4, 3, null);
    expect([d.hPad, d.wPad, d.paddedH, d.paddedW]).toEqual([1, 2, 6, 6]);
    expect(d.filtered).toBe(d.padded);
    expect(d.padded[0]).toBe(0);
    expect(d.padded[1 * 6 + 2]).toBe(0);
    expect(Array.from(cropTopLeft(d.padded, 2, 6, 6, 1, 2))).toEqual(Array.from(x));
  });

  it("with the filter, keeps the padded latent's mean and unbiased std (padding included)", () => {
    const x = Float32Array.from({ length: 4 * 7 * 7 }, (_, i) => Math.fround(Math.cos(i * 1.3) * 2 + 0.1));
    const d = prepareDilatedInputs(x, 4, 7, 7, 2, dilatedGaussianSigma(0.8, 0.65944165));
    expect(d.filtered).not.toBe(d.padded);
    const stats = (a: Float32Array) => {
      const m = a.reduce((s, v) => s + v, 0) / a.length;
      return [m, Math.sqrt(a.reduce((s, v) => s + (v - m) ** 2, 0) / (a.length - 1))];
    };
    const [m0, s0] = stats(d.padded);
    const [m1, s1] = stats(d.filtered);
    expect(d.paddedMean).toBeCloseTo(m0, 6);
    expect(d.paddedStd).toBeCloseTo(s0, 6);
    expect(m1).toBeCloseTo(m0, 5);
    expect(s1).toBeCloseTo(s0, 5);
  });

  it("rounds sigma * c3 in float32", () => {
    expect(dilatedGaussianSigma(0.8, 0.65944165)).toBe(Math.fround(0.5275533));
  });
});
