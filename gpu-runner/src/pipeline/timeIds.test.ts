import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { addTimeIds, controlnetKeep, repeatTimeIds, TIME_ID_WIDTH, viewTimeIds } from "./timeIds";
import type { View } from "./views";

describe("time ids", () => {
  it("addTimeIds lays out (orig h, orig w, crop top, crop left, target h, target w)", () => {
    expect(Array.from(addTimeIds(3072, 2048, 8, 16, 3072, 2048))).toEqual([3072, 2048, 8, 16, 3072, 2048]);
  });

  it("viewTimeIds copies every base row per view and sets only the crop to the view start * factor", () => {
    const viewArb = fc.tuple(fc.nat(600), fc.nat(600)).map(([h, w]): View => [h, h + 128, w, w + 128]);
    fc.assert(
      fc.property(fc.array(viewArb, { maxLength: 12 }), fc.integer({ min: 1, max: 4 }), (views, rows) => {
        const base = repeatTimeIds(addTimeIds(4096, 2048, 0, 0, 4096, 2048), rows);
        expect(base.length).toBe(rows * TIME_ID_WIDTH);
        const ids = viewTimeIds(base, views, 8);
        expect(ids.length).toBe(views.length * rows * TIME_ID_WIDTH);
        for (let v = 0; v < views.length; v++) {
          for (let r = 0; r < rows; r++) {
            const row = Array.from(ids.subarray((v * rows + r) * 6, (v * rows + r + 1) * 6));
            expect(row).toEqual([4096, 2048, views[v][0] * 8, views[v][2] * 8, 4096, 2048]);
          }
        }
        expect(Array.from(base)).toEqual(Array.from(repeatTimeIds(addTimeIds(4096, 2048, 0, 0, 4096, 2048), rows)));
      }),
    );
  });
});

describe("controlnetKeep", () => {
  it("is 1 on every step for the full window and 0 outside [start, end]", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100 }), fc.double({ min: 0, max: 1, noNaN: true }), (n, cut) => {
        for (let i = 0; i < n; i++) {
          expect(controlnetKeep(i, n, 0, 1)).toBe(1);
          expect(controlnetKeep(i, n, 0, cut)).toBe((i + 1) / n > cut ? 0 : 1);
          expect(controlnetKeep(i, n, cut, 1)).toBe(i / n < cut ? 0 : 1);
        }
      }),
    );
  });

  it("uses strict comparisons at the window edges", () => {
    // 10 steps, window [0.2, 0.5]: steps 2, 3, 4 are inside (2/10 == 0.2 and 5/10 == 0.5 are allowed).
    expect(Array.from({ length: 10 }, (_, i) => controlnetKeep(i, 10, 0.2, 0.5))).toEqual([
      0, 0, 1, 1, 1, 0, 0, 0, 0, 0,
    ]);
  });
});
