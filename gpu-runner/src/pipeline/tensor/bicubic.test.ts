import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bicubicResize, cubicTaps } from "./bicubic";

/** Independent double-precision 2-D reference straight from the cubic-convolution definition. */
function naiveBicubic(src: Float32Array, inH: number, inW: number, outH: number, outW: number): Float64Array {
  const a = -0.75;
  const k = (d: number) => {
    const x = Math.abs(d);
    if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
    return 0;
  };
  const clamp = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
  const out = new Float64Array(outH * outW);
  for (let oy = 0; oy < outH; oy++) {
    const ry = (oy + 0.5) * (inH / outH) - 0.5;
    const by = Math.floor(ry);
    for (let ox = 0; ox < outW; ox++) {
      const rx = (ox + 0.5) * (inW / outW) - 0.5;
      const bx = Math.floor(rx);
      let s = 0;
      for (let i = -1; i <= 2; i++) {
        for (let j = -1; j <= 2; j++) {
          s += src[clamp(by + i, inH - 1) * inW + clamp(bx + j, inW - 1)] * k(ry - (by + i)) * k(rx - (bx + j));
        }
      }
      out[oy * outW + ox] = s;
    }
  }
  return out;
}

describe("cubicTaps", () => {
  it("weights sum to one and taps are clamped", () => {
    const { index, weight } = cubicTaps(5, 13);
    for (let o = 0; o < 13; o++) {
      const s = weight[o * 4] + weight[o * 4 + 1] + weight[o * 4 + 2] + weight[o * 4 + 3];
      // float32 weights: the sum is one up to a few ulps.
      expect(Math.abs(s - 1)).toBeLessThan(2e-6);
      for (let j = 0; j < 4; j++) {
        expect(index[o * 4 + j]).toBeGreaterThanOrEqual(0);
        expect(index[o * 4 + j]).toBeLessThanOrEqual(4);
      }
    }
  });
});

describe("bicubicResize", () => {
  it("matches hand-computed values for a 2-sample ramp upsampled x2 (with overshoot)", () => {
    // Weights at t=0.75: [-0.03515625, 0.26171875, 0.87890625, -0.10546875] (all exact in float32).
    const y = bicubicResize(Float32Array.of(0, 1), 1, 1, 2, 1, 4);
    expect(Array.from(y)).toEqual([-0.10546875, 0.2265625, 0.7734375, 1.10546875]);
  });

  it("is the identity when the size does not change", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 0, max: 1e6 }),
        (h, w, seed) => {
          const src = Float32Array.from({ length: 2 * h * w }, (_, i) => Math.fround(Math.sin(seed + i * 1.7)));
          expect(Array.from(bicubicResize(src, 2, h, w, h, w))).toEqual(Array.from(src));
        },
      ),
    );
  });

  it("agrees with an independent double-precision reference for arbitrary sizes", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 0, max: 1e6 }),
        (inH, inW, outH, outW, seed) => {
          const src = Float32Array.from({ length: inH * inW }, (_, i) => Math.fround(3 * Math.cos(seed * 0.37 + i)));
          const got = bicubicResize(src, 1, inH, inW, outH, outW);
          const ref = naiveBicubic(src, inH, inW, outH, outW);
          for (let i = 0; i < ref.length; i++) expect(Math.abs(got[i] - ref[i])).toBeLessThan(1e-5);
        },
      ),
    );
  });

  it("keeps constants constant (up to float32 rounding) at any scale", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 24 }),
        fc.integer({ min: 1, max: 24 }),
        fc.float({ min: -10, max: 10, noNaN: true }),
        (inH, inW, outH, outW, v) => {
          const y = bicubicResize(new Float32Array(inH * inW).fill(v), 1, inH, inW, outH, outW);
          for (const e of y) expect(Math.abs(e - Math.fround(v))).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(v)));
        },
      ),
    );
  });

  it("treats planes independently and writes into a caller buffer", () => {
    const a = Float32Array.from({ length: 12 }, (_, i) => i);
    const b = Float32Array.from({ length: 12 }, (_, i) => -2 * i);
    const both = new Float32Array(24);
    both.set(a, 0);
    both.set(b, 12);
    const out = new Float32Array(2 * 7 * 5);
    const r = bicubicResize(both, 2, 3, 4, 7, 5, out);
    expect(r).toBe(out);
    expect(Array.from(out.subarray(0, 35))).toEqual(Array.from(bicubicResize(a, 1, 3, 4, 7, 5)));
    expect(Array.from(out.subarray(35))).toEqual(Array.from(bicubicResize(b, 1, 3, 4, 7, 5)));
  });
});
