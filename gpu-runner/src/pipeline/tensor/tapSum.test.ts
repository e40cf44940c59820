import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { addTapsF32, addTapsF64 } from "./tapSum";

/** The plain loop the unrolled kernels must reproduce bit for bit. */
function plain(
  acc: Float64Array,
  v: ArrayLike<number>,
  s: number,
  stride: number,
  g: Float32Array,
  t0: number,
  n: number,
) {
  for (let x = 0; x < acc.length; x++) {
    let a = acc[x];
    for (let t = 0; t < n; t++) a += g[t0 + t] * v[s + t * stride + x];
    acc[x] = a;
  }
}

describe("addTapsF32 / addTapsF64", () => {
  it("add 1..8 taps in tap order, bit-identical to the plain loop", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 13 }),
        fc.integer({ min: 0, max: 3 }),
        fc.float32Array({ minLength: 10, maxLength: 10, noNaN: true, noDefaultInfinity: true, min: -4, max: 4 }),
        fc.integer({ min: 0, max: 1 << 20 }),
        (n, w, t0, g, seed) => {
          const stride = w + 2;
          const len = 3 + n * stride + w;
          const v32 = Float32Array.from({ length: len }, (_, i) => Math.sin(seed + i * 1.7) * 3);
          const v64 = Float64Array.from(v32, (x, i) => x + i * 1e-9);
          const start = Float64Array.from({ length: w }, (_, i) => Math.cos(seed + i));
          for (const [fn, v] of [
            [addTapsF32, v32],
            [addTapsF64, v64],
          ] as const) {
            const got = Float64Array.from(start);
            const want = Float64Array.from(start);
            (fn as (...a: unknown[]) => void)(got, v, 3, stride, g, t0 % (10 - n + 1), n, w);
            plain(want, v, 3, stride, g, t0 % (10 - n + 1), n);
            expect(Array.from(got)).toEqual(Array.from(want));
          }
        },
      ),
    );
  });

  it("refuse more than 8 taps", () => {
    expect(() => addTapsF32(new Float64Array(1), new Float32Array(20), 0, 1, new Float32Array(9), 0, 9, 1)).toThrow(
      RangeError,
    );
  });
});
