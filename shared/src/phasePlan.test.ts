import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { planPhases, UnsupportedSizeError } from "./phasePlan";
import { NO_QUIRKS, REFERENCE_QUIRKS } from "./referenceQuirks";

const sdxl = (width: number, height: number, extra: Partial<Parameters<typeof planPhases>[0]> = {}) =>
  planPhases({
    width,
    height,
    base: 1024,
    vaeScaleFactor: 8,
    progressive: true,
    fromImage: false,
    quirks: NO_QUIRKS,
    ...extra,
  });

const sizes = (p: ReturnType<typeof planPhases>) => [
  [p.base.id, p.base.scale, p.base.latentHeight, p.base.latentWidth],
  ...p.upscales.map((u) => [u.id, u.scale, u.latentHeight, u.latentWidth]),
];

describe("planPhases: integer multiples follow the reference", () => {
  it("4096^2 on SDXL: phase 1 at 1024, then scales 2, 3, 4", () => {
    const p = sdxl(4096, 4096);
    expect(p.scaleNum).toBe(4);
    expect(p.referenceSizes).toBe(true);
    expect(sizes(p)).toEqual([
      [1, 1, 128, 128],
      [2, 2, 256, 256],
      [3, 3, 384, 384],
      [4, 4, 512, 512],
    ]);
    expect([p.outputHeight, p.outputWidth]).toEqual([4096, 4096]);
  });

  it("non-square 2048 x 4096 (h x w) keeps the aspect in every phase", () => {
    const p = sdxl(4096, 2048);
    expect(sizes(p)).toEqual([
      [1, 1, 64, 128],
      [2, 2, 128, 256],
      [3, 3, 192, 384],
      [4, 4, 256, 512],
    ]);
  });

  it("tall 4096 x 2000 (h x w): the reference's int(px * aspect) sizes, exact output", () => {
    const p = sdxl(2000, 4096);
    expect(sizes(p)).toEqual([
      [1, 1, 128, 62],
      [2, 2, 256, 125],
      [3, 3, 384, 187],
      [4, 4, 512, 250],
    ]);
    // The reference resizes the condition to current_width = int(3072 * aspect) = 1500 px; we align it to 187*8.
    expect(p.upscales[1].conditionWidth).toBe(1496);
    expect(sdxl(2000, 4096, { quirks: REFERENCE_QUIRKS }).upscales[1].conditionWidth).toBe(1500);
  });

  it("without progressive upscaling only the last scale runs", () => {
    expect(sizes(sdxl(3072, 3072, { progressive: false }))).toEqual([
      [1, 1, 128, 128],
      [3, 3, 384, 384],
    ]);
  });

  it("from an image, the reference starts upscaling at scale 1 and the encoded base is phase 0", () => {
    expect(sizes(sdxl(2048, 2048, { fromImage: true }))).toEqual([
      [0, 1, 128, 128],
      [1, 1, 128, 128],
      [2, 2, 256, 256],
    ]);
  });

  it("the base size itself is a single phase (progressive)", () => {
    expect(sizes(sdxl(1024, 1024))).toEqual([[1, 1, 128, 128]]);
  });
});

describe("planPhases: the generalisation to other sizes", () => {
  it("3000^2: phases 1 and 2 at integer multiples, the last at exactly 3000 with dilation 3", () => {
    const p = sdxl(3000, 3000);
    expect(p.referenceSizes).toBe(false);
    expect(sizes(p)).toEqual([
      [1, 1, 128, 128],
      [2, 2, 256, 256],
      [3, 3, 375, 375],
    ]);
    expect([p.outputHeight, p.outputWidth]).toEqual([3000, 3000]);
  });

  it("referenceCompat reproduces the reference's silent 2048^2 for a 3000^2 request", () => {
    const p = sdxl(3000, 3000, { quirks: REFERENCE_QUIRKS });
    expect(sizes(p)).toEqual([
      [1, 1, 187, 187],
      [2, 2, 256, 256],
    ]);
    expect(p.outputHeight).toBe(2048);
  });

  it("a 216 x 144 (h x w) request on a 64 px base: compat gives 192 x 128, the default exactly 216 x 144", () => {
    const toy = { base: 64 };
    const compat = planPhases({
      width: 144,
      height: 216,
      vaeScaleFactor: 8,
      progressive: true,
      fromImage: false,
      quirks: REFERENCE_QUIRKS,
      ...toy,
    });
    expect([compat.outputHeight, compat.outputWidth]).toEqual([192, 128]);
    expect(sizes(compat)).toEqual([
      [1, 1, 9, 6],
      [2, 2, 16, 10],
      [3, 3, 24, 16],
    ]);
    const exact = planPhases({
      width: 144,
      height: 216,
      vaeScaleFactor: 8,
      progressive: true,
      fromImage: false,
      quirks: NO_QUIRKS,
      ...toy,
    });
    expect(sizes(exact)).toEqual([
      [1, 1, 8, 5],
      [2, 2, 16, 11],
      [3, 3, 27, 18],
    ]);
  });

  it("below 1.5x the base renders phase 1 directly at the requested size (as the reference does for 1 <= L < 2)", () => {
    expect(sizes(sdxl(1200, 1400))).toEqual([[1, 1, 175, 150]]);
    expect(sizes(sdxl(512, 512))).toEqual([[1, 1, 64, 64]]);
  });

  it("refuses sizes below the base in compat (the reference divides by zero)", () => {
    expect(() => sdxl(512, 512, { quirks: REFERENCE_QUIRKS })).toThrow(UnsupportedSizeError);
  });

  it("property: the default output is exactly the request, phases grow, dilation factors are integers <= S", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 8, max: 64 }),
        fc.integer({ min: 8, max: 64 }),
        fc.boolean(),
        fc.boolean(),
        (w8, h8, progressive, fromImage) => {
          const p = planPhases({
            width: w8 * 8,
            height: h8 * 8,
            base: 128,
            vaeScaleFactor: 8,
            progressive,
            fromImage,
            quirks: NO_QUIRKS,
          });
          expect([p.outputHeight, p.outputWidth]).toEqual([h8 * 8, w8 * 8]);
          const all = [p.base, ...p.upscales];
          for (let k = 1; k < all.length; k++) {
            expect(Math.max(all[k].latentHeight, all[k].latentWidth)).toBeGreaterThanOrEqual(
              Math.max(all[k - 1].latentHeight, all[k - 1].latentWidth),
            );
          }
          for (const ph of all) {
            expect(Number.isInteger(ph.scale)).toBe(true);
            expect(ph.scale).toBeGreaterThanOrEqual(1);
            expect(ph.scale).toBeLessThanOrEqual(p.scaleNum);
            expect(ph.latentHeight).toBeGreaterThan(0);
            expect(ph.latentWidth).toBeGreaterThan(0);
            expect([ph.conditionHeight, ph.conditionWidth]).toEqual([ph.latentHeight * 8, ph.latentWidth * 8]);
          }
        },
      ),
    );
  });
});
