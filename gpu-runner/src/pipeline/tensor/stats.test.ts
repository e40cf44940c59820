import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { mean, meanStd, renormalize, stdUnbiased } from "./stats";

const tensor = fc.float32Array({
  minLength: 2,
  maxLength: 300,
  min: -50,
  max: 50,
  noNaN: true,
  noDefaultInfinity: true,
});

function exactStats(x: Float32Array): { m: number; s: number } {
  const m = x.reduce((a, b) => a + b, 0) / x.length;
  const ss = x.reduce((a, b) => a + (b - m) ** 2, 0);
  return { m, s: Math.sqrt(ss / (x.length - 1)) };
}

describe("mean and stdUnbiased", () => {
  it("use the N-1 divisor and return float32 values", () => {
    const x = Float32Array.of(1, 2, 3, 4);
    expect(mean(x)).toBe(2.5);
    expect(stdUnbiased(x)).toBe(Math.fround(Math.sqrt(5 / 3))); // biased would be sqrt(1.25)
    expect(Number.isNaN(stdUnbiased(Float32Array.of(1)))).toBe(true);
    expect(Number.isNaN(mean(new Float32Array(0)))).toBe(true);
  });

  it("equal the float64 closed form rounded to float32", () => {
    fc.assert(
      fc.property(tensor, (x) => {
        const { m, s } = exactStats(x);
        expect(mean(x)).toBe(Math.fround(m));
        expect(Math.abs(stdUnbiased(x) - s)).toBeLessThanOrEqual(1e-6 * (s + 1));
      }),
    );
  });

  it("meanStd gives exactly mean() and stdUnbiased()", () => {
    fc.assert(
      fc.property(tensor, (x) => {
        expect(meanStd(x)).toEqual({ mean: mean(x), std: stdUnbiased(x) });
      }),
    );
  });

  it("do not lose precision to cancellation on a large offset", () => {
    const x = new Float32Array(100_000);
    for (let i = 0; i < x.length; i++) x[i] = 1000 + (i % 2 === 0 ? 0.5 : -0.5);
    expect(mean(x)).toBe(1000);
    expect(stdUnbiased(x)).toBeCloseTo(0.5 * Math.sqrt(100_000 / 99_999), 6);
  });
});

describe("renormalize", () => {
  it("yields the target mean and unbiased std", () => {
    fc.assert(
      fc.property(
        tensor,
        fc.float({ min: -2, max: 2, noNaN: true }),
        fc.float({ min: Math.fround(0.1), max: 3, noNaN: true }),
        (x, tm, ts) => {
          fc.pre(stdUnbiased(x) > 1e-3);
          const y = renormalize(x, tm, ts);
          expect(mean(y)).toBeCloseTo(tm, 4);
          expect(Math.abs(stdUnbiased(y) - ts)).toBeLessThanOrEqual(1e-4 * ts + 1e-5);
        },
      ),
    );
  });

  it("rounds each op to float32 and may run in place", () => {
    fc.assert(
      fc.property(tensor, (x) => {
        fc.pre(stdUnbiased(x) > 0);
        const m = mean(x);
        const s = stdUnbiased(x);
        const y = renormalize(x, 0.16, 0.9);
        for (let i = 0; i < x.length; i++) {
          const want = Math.fround(
            Math.fround(Math.fround(Math.fround(x[i] - m) / s) * Math.fround(0.9)) + Math.fround(0.16),
          );
          expect(y[i]).toBe(want);
        }
        const inPlace = Float32Array.from(x);
        expect(renormalize(inPlace, 0.16, 0.9, inPlace)).toEqual(y);
      }),
    );
  });
});
