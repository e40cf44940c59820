import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { gaussianFilter, gaussianFilterRenormalized, gaussianKernel1d, gaussianKernel2d } from "./js";

function naiveConv(src: Float32Array, planes: number, h: number, w: number, kernel: Float32Array, k: number) {
  const r = k >> 1;
  const out = new Float64Array(planes * h * w);
  for (let p = 0; p < planes; p++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let s = 0;
        for (let i = 0; i < k; i++) {
          for (let j = 0; j < k; j++) {
            const yy = y + i - r;
            const xx = x + j - r;
            if (yy >= 0 && yy < h && xx >= 0 && xx < w) s += kernel[i * k + j] * src[p * h * w + yy * w + xx];
          }
        }
        out[p * h * w + y * w + x] = s;
      }
    }
  }
  return out;
}

function meanStd(x: ArrayLike<number>): [number, number] {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i];
  const m = s / x.length;
  let q = 0;
  for (let i = 0; i < x.length; i++) q += (x[i] - m) ** 2;
  return [m, Math.sqrt(q / (x.length - 1))];
}

const pseudo = (n: number, seed: number) =>
  Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(seed + i * 12.9898) * 2));

describe("gaussianKernel1d", () => {
  it("is normalised, symmetric and peaked at the centre", () => {
    for (const k of [3, 5, 7]) {
      for (const sigma of [0.3, 0.8, 2]) {
        const g = gaussianKernel1d(k, sigma);
        expect(g.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
        for (let i = 0; i < k; i++) expect(g[i]).toBe(g[k - 1 - i]);
        for (let i = 0; i < k >> 1; i++) expect(g[i]).toBeLessThan(g[i + 1]);
      }
    }
  });

  it("matches exp(-(x-c)^2/(2 sigma^2)) normalised, e.g. k=3 sigma=1", () => {
    const e = Math.exp(-0.5);
    const g = gaussianKernel1d(3, 1);
    expect(g[0]).toBeCloseTo(e / (1 + 2 * e), 7);
    expect(g[1]).toBeCloseTo(1 / (1 + 2 * e), 7);
  });

  it("underflows to an exact delta for a tiny sigma (late timesteps)", () => {
    expect(Array.from(gaussianKernel1d(7, 0.008001959))).toEqual([0, 0, 0, 1, 0, 0, 0]);
  });

  it("builds the 2-D kernel as the outer product", () => {
    const g = gaussianKernel1d(5, 0.7);
    const k2 = gaussianKernel2d(5, 0.7);
    expect(k2[1 * 5 + 3]).toBe(Math.fround(g[1] * g[3]));
  });
});

/** The separable filter written as plain loops (float64 sums in tap order, float32 intermediate). */
function plainSeparable(src: Float32Array, planes: number, h: number, w: number, k: number, sigma: number) {
  const g = gaussianKernel1d(k, sigma);
  const r = k >> 1;
  const mid = new Float32Array(planes * h * w);
  const out = new Float32Array(planes * h * w);
  for (let p = 0; p < planes; p++) {
    const b = p * h * w;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let a = 0;
        for (let i = 0; i < k; i++) if (y + i - r >= 0 && y + i - r < h) a += g[i] * src[b + (y + i - r) * w + x];
        mid[b + y * w + x] = a;
      }
    }
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let a = 0;
        for (let j = 0; j < k; j++) a += g[j] * (x + j - r >= 0 && x + j - r < w ? mid[b + y * w + x + j - r] : 0);
        out[b + y * w + x] = a;
      }
    }
  }
  return out;
}

describe("gaussianFilter", () => {
  it("is bit-identical to the plain separable loops, kernels longer than 8 taps included", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 3, 5, 7, 9, 11, 17),
        fc.double({ min: 0.2, max: 3, noNaN: true }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 0, max: 1000 }),
        (k, sigma, h, w, seed) => {
          const src = pseudo(2 * h * w, seed);
          expect(Array.from(gaussianFilter(src, 2, h, w, k, sigma))).toEqual(
            Array.from(plainSeparable(src, 2, h, w, k, sigma)),
          );
        },
      ),
    );
  });

  it("equals a direct zero-padded 2-D cross-correlation with the outer-product kernel", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(3, 5, 7),
        fc.double({ min: 0.2, max: 3, noNaN: true }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 0, max: 1000 }),
        (k, sigma, h, w, seed) => {
          const src = pseudo(2 * h * w, seed);
          const got = gaussianFilter(src, 2, h, w, k, sigma);
          const ref = naiveConv(src, 2, h, w, gaussianKernel2d(k, sigma), k);
          for (let i = 0; i < ref.length; i++) expect(Math.abs(got[i] - ref[i])).toBeLessThan(2e-6);
        },
      ),
    );
  });

  it("is the identity when the kernel is a delta", () => {
    const src = pseudo(3 * 6 * 5, 1);
    expect(Array.from(gaussianFilter(src, 3, 6, 5, 7, 0.008))).toEqual(Array.from(src));
  });

  it("keeps constants in the interior and darkens the zero-padded border", () => {
    const src = new Float32Array(8 * 8).fill(2);
    const y = gaussianFilter(src, 1, 8, 8, 3, 1);
    expect(y[3 * 8 + 3]).toBeCloseTo(2, 6);
    expect(y[0]).toBeLessThan(2);
  });

  it("rejects an output buffer that aliases the input", () => {
    const src = new Float32Array(16);
    expect(() => gaussianFilter(src, 1, 4, 4, 3, 1, src)).toThrow(RangeError);
  });
});

describe("gaussianFilterRenormalized", () => {
  it("restores the input's mean and unbiased std over all planes", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(3, 5, 7),
        fc.integer({ min: 3, max: 10 }),
        fc.integer({ min: 0, max: 1000 }),
        (k, s, seed) => {
          const src = pseudo(4 * s * (s + 1), seed);
          const out = new Float32Array(src.length);
          const st = gaussianFilterRenormalized(src, 4, s, s + 1, k, 0.9, out);
          const [m0, s0] = meanStd(src);
          const [m1, s1] = meanStd(out);
          expect(st.inputMean).toBeCloseTo(m0, 6);
          expect(st.inputStd).toBeCloseTo(s0, 6);
          expect(m1).toBeCloseTo(m0, 5);
          expect(s1).toBeCloseTo(s0, 5);
        },
      ),
    );
  });
});
