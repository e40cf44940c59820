import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cropPlanes, padPlanes } from "./pad";

describe("padPlanes / cropPlanes", () => {
  it("places the planes in the interior with zeros around, and cropping recovers them", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 6 }),
        fc.record({
          top: fc.integer({ min: 0, max: 3 }),
          bottom: fc.integer({ min: 0, max: 3 }),
          left: fc.integer({ min: 0, max: 3 }),
          right: fc.integer({ min: 0, max: 3 }),
        }),
        (planes, h, w, pad) => {
          const src = Float32Array.from({ length: planes * h * w }, (_, i) => i + 1);
          const ph = pad.top + h + pad.bottom;
          const pw = pad.left + w + pad.right;
          const padded = padPlanes(src, planes, h, w, pad);
          expect(padded.length).toBe(planes * ph * pw);
          let sum = 0;
          for (const v of padded) sum += v;
          expect(sum).toBe((src.length * (src.length + 1)) / 2);
          for (let p = 0; p < planes; p++) {
            for (let y = 0; y < ph; y++) {
              for (let x = 0; x < pw; x++) {
                const inside = y >= pad.top && y < pad.top + h && x >= pad.left && x < pad.left + w;
                const v = padded[(p * ph + y) * pw + x];
                if (inside) expect(v).toBe(src[(p * h + y - pad.top) * w + x - pad.left]);
                else expect(v).toBe(0);
              }
            }
          }
          expect(Array.from(cropPlanes(padded, planes, ph, pw, pad.top, pad.left, h, w))).toEqual(Array.from(src));
        },
      ),
    );
  });

  it("zeroes the border of a reused output buffer", () => {
    const out = new Float32Array(16).fill(7);
    padPlanes(Float32Array.of(1, 2, 3, 4), 1, 2, 2, { top: 1, bottom: 1, left: 1, right: 1 }, out);
    expect(Array.from(out)).toEqual([0, 0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0, 0, 0, 0]);
  });

  it("rejects crops outside the source", () => {
    expect(() => cropPlanes(new Float32Array(9), 1, 3, 3, 1, 1, 3, 2)).toThrow(RangeError);
  });
});
