import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { nearestIndex, resizeNearestU8 } from "./nearest";

describe("resizeNearestU8", () => {
  it("replicates each source pixel `factor` times for integer factors", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        (h, w, fy, fx) => {
          const src = Uint8Array.from({ length: h * w }, (_, i) => (i * 37) & 255);
          const out = resizeNearestU8(src, h, w, h * fy, w * fx);
          for (let y = 0; y < h * fy; y++) {
            for (let x = 0; x < w * fx; x++) {
              expect(out[y * w * fx + x]).toBe(src[Math.floor(y / fy) * w + Math.floor(x / fx)]);
            }
          }
        },
      ),
    );
  });

  it("uses floor(dst * in/out) without a half-pixel offset (downscale picks the first of each block)", () => {
    expect(Array.from(nearestIndex(6, 3))).toEqual([0, 2, 4]);
    expect(Array.from(nearestIndex(3, 5))).toEqual([0, 0, 1, 1, 2]);
    const src = Uint8Array.of(1, 2, 3, 4, 5, 6);
    expect(Array.from(resizeNearestU8(src, 1, 6, 1, 3))).toEqual([1, 3, 5]);
  });

  it("keeps indices in range for arbitrary sizes", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 200 }), (n, m) => {
        const idx = nearestIndex(n, m);
        for (let i = 0; i < m; i++) {
          expect(idx[i]).toBeGreaterThanOrEqual(0);
          expect(idx[i]).toBeLessThan(n);
          if (i > 0) expect(idx[i]).toBeGreaterThanOrEqual(idx[i - 1]);
        }
      }),
    );
  });
});
