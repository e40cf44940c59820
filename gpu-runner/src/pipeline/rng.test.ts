import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { gaussian, randIntStream, SeededStream } from "./rng";

const seedArb = fc.nat({ max: 2 ** 40 });
const nameArb = fc.string({ maxLength: 12 });

describe("SeededStream", () => {
  it("is deterministic per (seed, stream) and differs across streams and seeds", () => {
    fc.assert(
      fc.property(seedArb, nameArb, nameArb, (seed, a, b) => {
        const x = gaussian(seed, a, 8);
        expect(gaussian(seed, a, 8)).toEqual(x);
        if (a !== b) expect(gaussian(seed, b, 8)).not.toEqual(x);
        expect(gaussian(seed + 1, a, 8)).not.toEqual(x);
      }),
    );
  });

  it("fillU32 gives exactly the words of successive nextU32 calls, and continues the stream", () => {
    fc.assert(
      fc.property(
        seedArb,
        nameArb,
        fc.integer({ min: 0, max: 50 }),
        fc.integer({ min: 0, max: 7 }),
        (seed, name, n, pre) => {
          const a = new SeededStream(seed, name);
          const b = new SeededStream(seed, name);
          for (let k = 0; k < pre; k++) expect(b.fillU32(new Uint32Array(1))[0]).toBe(a.nextU32());
          const words = b.fillU32(new Uint32Array(n));
          for (let k = 0; k < n; k++) expect(words[k]).toBe(a.nextU32());
          expect(b.nextU32()).toBe(a.nextU32());
        },
      ),
    );
  });

  it("keeps seeds above 2^32 distinct from their low word", () => {
    expect(gaussian(2 ** 32 + 5, "phase1", 4)).not.toEqual(gaussian(5, "phase1", 4));
  });

  it("does not confuse (seed, name) pairs that concatenate alike", () => {
    expect(gaussian(0, "a1", 4)).not.toEqual(gaussian(0, "a", 4));
    expect(gaussian(1, "phase", 4)).not.toEqual(gaussian(0, "phase", 4));
  });

  it("draws a prefix of a longer draw (so a phase's noise does not depend on its buffer size)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 33 }), fc.integer({ min: 0, max: 20 }), (n, extra) => {
        expect(gaussian(7, "p2", n + extra).subarray(0, n)).toEqual(gaussian(7, "p2", n));
      }),
    );
  });

  it("gives standard normal samples (1e6 draws: mean, std, symmetric tails, kurtosis)", () => {
    const n = 1_000_000;
    const x = gaussian(1234, "phase1-noise", n);
    let s = 0;
    let s2 = 0;
    let s4 = 0;
    let beyond2 = 0;
    for (let i = 0; i < n; i++) {
      const v = x[i];
      s += v;
      s2 += v * v;
      s4 += v * v * v * v;
      if (Math.abs(v) > 2) beyond2++;
    }
    const mean = s / n;
    const variance = s2 / n - mean * mean;
    expect(Math.abs(mean)).toBeLessThan(0.005);
    expect(Math.abs(Math.sqrt(variance) - 1)).toBeLessThan(0.005);
    expect(Math.abs(s4 / n - 3)).toBeLessThan(0.05);
    expect(Math.abs(beyond2 / n - 0.0455)).toBeLessThan(0.002);
  });

  it("has uncorrelated neighbours (Box-Muller partners and successive pairs)", () => {
    const n = 200_000;
    const x = gaussian(99, "corr", n);
    let lag1 = 0;
    let lag2 = 0;
    for (let i = 0; i + 2 < n; i++) {
      lag1 += x[i] * x[i + 1];
      lag2 += x[i] * x[i + 2];
    }
    expect(Math.abs(lag1 / n)).toBeLessThan(0.01);
    expect(Math.abs(lag2 / n)).toBeLessThan(0.01);
  });
});

describe("randIntStream", () => {
  it("returns integers within inclusive bounds, reaching both ends", () => {
    fc.assert(
      fc.property(seedArb, fc.integer({ min: -20, max: 0 }), fc.integer({ min: 0, max: 20 }), (seed, lo, hi) => {
        const r = randIntStream(seed, "views");
        const seen = new Set<number>();
        for (let k = 0; k < 400; k++) {
          const v = r(lo, hi);
          expect(Number.isInteger(v) && v >= lo && v <= hi).toBe(true);
          seen.add(v);
        }
        if (hi - lo <= 10) expect(seen.size).toBe(hi - lo + 1);
      }),
      { numRuns: 50 },
    );
  });

  it("is roughly uniform (chi-square over 33 bins, 66,000 draws)", () => {
    const r = randIntStream(3, "jitter-phase2");
    const counts = new Array(33).fill(0);
    for (let k = 0; k < 66_000; k++) counts[r(-16, 16) + 16]++;
    const chi2 = counts.reduce((acc, c) => acc + (c - 2000) ** 2 / 2000, 0);
    expect(chi2).toBeLessThan(70); // 32 dof: p ~ 1e-4
  });

  it("accepts integral floats and a single-value range; rejects bad bounds and seeds", () => {
    const r = randIntStream(0, "x");
    expect(r(-4.0, -4.0)).toBe(-4);
    expect(() => r(2, 1)).toThrow();
    expect(() => r(0.5, 2)).toThrow();
    expect(() => new SeededStream(-1, "x")).toThrow();
    expect(() => new SeededStream(1.5, "x")).toThrow();
  });
});
