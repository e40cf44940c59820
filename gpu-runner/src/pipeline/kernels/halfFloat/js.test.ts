import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { float32ToHalfBits, fromHalfArray, halfBitsToFloat32, toHalfArray } from "./js";

/** Sorted values of the finite non-negative halves 0x0000..0x7bff, indexed by their bits. */
const positive = Array.from({ length: 0x7c00 }, (_, h) => halfBitsToFloat32(h));

/**
 * Independent oracle: nearest half by binary search over the value table, ties to the even
 * encoding, overflow at 65520 (= 65504 + half an ulp, which ties to the even 0x7c00 = Inf).
 */
function oracle(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00;
  let lo = 0;
  let hi = positive.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (positive[mid] <= a) lo = mid;
    else hi = mid;
  }
  if (a >= positive[hi]) return sign | hi;
  const dLo = a - positive[lo];
  const dHi = positive[hi] - a;
  if (dLo < dHi) return sign | lo;
  if (dHi < dLo) return sign | hi;
  return sign | (lo % 2 === 0 ? lo : hi);
}

describe("halfBitsToFloat32", () => {
  it("decodes the landmarks", () => {
    expect(halfBitsToFloat32(0x3c00)).toBe(1);
    expect(halfBitsToFloat32(0xc000)).toBe(-2);
    expect(halfBitsToFloat32(0x7bff)).toBe(65504);
    expect(halfBitsToFloat32(0x0001)).toBe(2 ** -24);
    expect(halfBitsToFloat32(0x0400)).toBe(2 ** -14);
    expect(halfBitsToFloat32(0x3555)).toBe(0.333251953125);
    expect(halfBitsToFloat32(0x7c00)).toBe(Number.POSITIVE_INFINITY);
    expect(halfBitsToFloat32(0xfc00)).toBe(Number.NEGATIVE_INFINITY);
    expect(Object.is(halfBitsToFloat32(0x8000), -0)).toBe(true);
    expect(halfBitsToFloat32(0x7e00)).toBeNaN();
  });
});

describe("float32ToHalfBits", () => {
  it("round-trips every one of the 65536 half encodings (NaNs to the canonical NaN)", () => {
    const all = new Uint16Array(0x10000).map((_, i) => i);
    const decoded = fromHalfArray(all);
    const encoded = toHalfArray(decoded);
    for (let h = 0; h < 0x10000; h++) {
      const nanBits = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      const expected = nanBits ? (h & 0x8000) | 0x7e00 : h;
      if (encoded[h] !== expected) throw new Error(`0x${h.toString(16)} -> 0x${encoded[h].toString(16)}`);
    }
  });

  it("rounds every midpoint between consecutive halves to the even encoding", () => {
    for (let h = 0; h < 0x7bff; h++) {
      const mid = (positive[h] + positive[h + 1]) / 2; // exact in float32: one extra bit
      expect(Math.fround(mid)).toBe(mid);
      const even = h % 2 === 0 ? h : h + 1;
      if (float32ToHalfBits(mid) !== even) throw new Error(`midpoint above 0x${h.toString(16)}`);
      if (float32ToHalfBits(-mid) !== (0x8000 | even)) throw new Error(`negative midpoint above 0x${h.toString(16)}`);
      // One float32 ulp either side of the midpoint decides the other way round.
      const below = Math.fround(mid - mid * 2 ** -23);
      const above = Math.fround(mid + mid * 2 ** -23);
      if (below < mid && float32ToHalfBits(below) !== h) throw new Error(`below midpoint 0x${h.toString(16)}`);
      if (above > mid && float32ToHalfBits(above) !== h + 1) throw new Error(`above midpoint 0x${h.toString(16)}`);
    }
  });

  it("handles overflow, underflow and specials", () => {
    expect(float32ToHalfBits(65504)).toBe(0x7bff);
    expect(float32ToHalfBits(65519.99)).toBe(0x7bff);
    expect(float32ToHalfBits(65520)).toBe(0x7c00);
    expect(float32ToHalfBits(1e10)).toBe(0x7c00);
    expect(float32ToHalfBits(-1e10)).toBe(0xfc00);
    expect(float32ToHalfBits(2 ** -25)).toBe(0); // exactly half the smallest subnormal: ties to even 0
    expect(float32ToHalfBits(Math.fround(2 ** -25 * 1.0000001))).toBe(1);
    expect(float32ToHalfBits(2 ** -26)).toBe(0);
    expect(float32ToHalfBits(1e-30)).toBe(0);
    expect(float32ToHalfBits(-0)).toBe(0x8000);
    expect(float32ToHalfBits(Number.NaN)).toBe(0x7e00);
    expect(float32ToHalfBits(Number.POSITIVE_INFINITY)).toBe(0x7c00);
    // The largest subnormal rounds up into the smallest normal.
    expect(float32ToHalfBits(Math.fround(2 ** -14 - 2 ** -26))).toBe(0x0400);
  });

  it("matches the nearest-value oracle on arbitrary float32 values", () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true }), (x) => {
        expect(float32ToHalfBits(x)).toBe(oracle(x));
      }),
      { numRuns: 20000 },
    );
    fc.assert(
      fc.property(fc.float({ min: -70000, max: 70000, noNaN: true }), (x) => {
        expect(float32ToHalfBits(x)).toBe(oracle(x));
      }),
      { numRuns: 20000 },
    );
  });
});

describe("array conversion", () => {
  it("works on subarray views and reuses out buffers", () => {
    const backing = new Float32Array([9, 1.5, -0.25, 3]);
    const view = backing.subarray(1, 3);
    const out = new Uint16Array(2);
    expect(toHalfArray(view, out)).toBe(out);
    expect([...out]).toEqual([0x3e00, 0xb400]);
    const back = new Float32Array(2);
    expect(fromHalfArray(out, back)).toBe(back);
    expect([...back]).toEqual([1.5, -0.25]);
  });

  it("rejects mismatched out buffers", () => {
    expect(() => toHalfArray(new Float32Array(3), new Uint16Array(2))).toThrow(RangeError);
    expect(() => fromHalfArray(new Uint16Array(3), new Float32Array(4))).toThrow(RangeError);
  });
});
