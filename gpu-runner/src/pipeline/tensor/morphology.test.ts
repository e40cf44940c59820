import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { dilate3x3, erode3x3 } from "./morphology";

/** Brute force: min/max over the (2k+1)^2 window clipped to the image (OpenCV's border rule). */
function bruteForce(src: Uint8Array, h: number, w: number, k: number, erode: boolean): Uint8Array {
  const out = new Uint8Array(h * w);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      let v = erode ? 255 : 0;
      for (let yy = Math.max(0, y - k); yy <= Math.min(h - 1, y + k); yy++)
        for (let xx = Math.max(0, x - k); xx <= Math.min(w - 1, x + k); xx++)
          v = erode ? Math.min(v, src[yy * w + xx]) : Math.max(v, src[yy * w + xx]);
      out[y * w + x] = v;
    }
  return out;
}

const maskArb = fc
  .record({ h: fc.integer({ min: 1, max: 12 }), w: fc.integer({ min: 1, max: 12 }) })
  .chain(({ h, w }) =>
    fc.record({
      h: fc.constant(h),
      w: fc.constant(w),
      px: fc.array(fc.constantFrom(0, 255, 7), { minLength: h * w, maxLength: h * w }),
    }),
  );

describe("erode3x3 / dilate3x3", () => {
  it("do not erode from outside the image", () => {
    const full = new Uint8Array(5 * 7).fill(255);
    expect(erode3x3(full, 5, 7, 2).every((v) => v === 255)).toBe(true);
  });

  it("do not dilate from outside the image", () => {
    const empty = new Uint8Array(4 * 4);
    expect(dilate3x3(empty, 4, 4, 3).every((v) => v === 0)).toBe(true);
  });

  it("grow a single pixel into a (2k+1)^2 square", () => {
    const h = 9;
    const w = 9;
    const src = new Uint8Array(h * w);
    src[4 * w + 4] = 255;
    const d = dilate3x3(src, h, w, 2);
    let count = 0;
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const inside = Math.abs(y - 4) <= 2 && Math.abs(x - 4) <= 2;
        expect(d[y * w + x]).toBe(inside ? 255 : 0);
        if (d[y * w + x]) count++;
      }
    expect(count).toBe(25);
    // Erosion takes it back exactly (the 5x5 square is open).
    expect(erode3x3(d, h, w, 2)).toEqual(src);
  });

  it("leave the input unchanged with 0 iterations", () => {
    const src = Uint8Array.from([0, 255, 3, 9]);
    expect(erode3x3(src, 2, 2, 0)).toEqual(src);
    expect(dilate3x3(src, 2, 2, 0)).toEqual(src);
  });

  it("equal the clipped (2k+1)x(2k+1) window min/max (property)", () => {
    fc.assert(
      fc.property(maskArb, fc.integer({ min: 0, max: 5 }), ({ h, w, px }, k) => {
        const src = Uint8Array.from(px);
        expect(erode3x3(src, h, w, k)).toEqual(bruteForce(src, h, w, k, true));
        expect(dilate3x3(src, h, w, k)).toEqual(bruteForce(src, h, w, k, false));
      }),
    );
  });

  it("work in place when out is the input", () => {
    const src = Uint8Array.from([255, 0, 255, 255, 255, 255, 255, 255, 255]);
    const expected = erode3x3(src, 3, 3, 1);
    expect(erode3x3(src, 3, 3, 1, src)).toBe(src);
    expect(src).toEqual(expected);
  });
});
