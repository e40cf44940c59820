import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fromRgbU8, toRgbU8 } from "./decode";

const f = Math.fround;

/** VaeImageProcessor.postprocess written plainly: (x/2 + 0.5).clamp(0, 1), (x*255).round() half to even, CHW->HWC. */
function reference(chw: Float32Array, H: number, W: number): Uint8Array {
  const plane = H * W;
  const out = new Uint8Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < plane; i++) {
      let v = f(f(chw[c * plane + i] / 2) + 0.5);
      v = v < 0 ? 0 : Math.min(v, 1);
      const x = f(v * 255);
      const r = Math.round(x);
      out[i * 3 + c] = r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
    }
  }
  return out;
}

describe("toRgbU8", () => {
  it("equals the plain post-processing on any float32 input (ties to even, clamping, NaN)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }), fc.nat(), (H, W, seed) => {
        const special = [Number.NaN, -0, 0, 1, -1, 2, -3, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
        const chw = Float32Array.from({ length: 3 * H * W }, (_, i) => {
          const k = (i * 7919 + seed) % 97;
          if (k < special.length) return special[k];
          // Exact ties: (2n+1)/255 maps to n + 0.5 after *255 (up to float32 rounding).
          if (k < 40) return f(((2 * ((k + seed) % 255) + 1) / 255 - 0.5) * 2);
          return Math.sin(seed + i) * 1.3;
        });
        expect(Array.from(toRgbU8(chw, H, W))).toEqual(Array.from(reference(chw, H, W)));
      }),
    );
  });

  it("round-trips the images fromRgbU8 makes", () => {
    const img = { data: Uint8Array.from({ length: 4 * 5 * 3 }, (_, i) => (i * 37) % 256), width: 5, height: 4 };
    expect(Array.from(toRgbU8(fromRgbU8(img), 4, 5))).toEqual(Array.from(img.data));
  });
});
