import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  analyse,
  cellMeans,
  classifyCells,
  type Rgb8Image,
  regionAreas,
  repetition,
  scoreImages,
  speckle,
  TOY_PALETTE,
} from "./scores";

const CAT = TOY_PALETTE.names.indexOf("cat");
const DOG = TOY_PALETTE.names.indexOf("dog");
const LAWN = TOY_PALETTE.background;

interface Box {
  k: number;
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** A toy-world-like picture: lawn, flat boxes (pixel coordinates, end exclusive), and a small deterministic grain. */
function paint(size: number, boxes: readonly Box[], grain = 12): Rgb8Image {
  const data = new Uint8Array(size * size * 3);
  let s = 12345;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let k = LAWN;
      for (const b of boxes) if (x >= b.x0 && x < b.x1 && y >= b.y0 && y < b.y1) k = b.k;
      for (let c = 0; c < 3; c++) {
        s = (s * 1103515245 + 12345) & 0x7fffffff;
        const noise = ((s / 0x7fffffff) * 2 - 1) * grain;
        data[(y * size + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(TOY_PALETTE.colors[k][c] + noise)));
      }
    }
  }
  return { data, width: size, height: size };
}

const scaleBoxes = (boxes: readonly Box[], f: number) =>
  boxes.map((b) => ({ k: b.k, x0: b.x0 * f, y0: b.y0 * f, x1: b.x1 * f, y1: b.y1 * f }));

describe("cell grid and classes", () => {
  it("averages 8x8 cells and labels each with the nearest thing", () => {
    const img = paint(64, [{ k: CAT, x0: 16, y0: 16, x1: 32, y1: 40 }]);
    const g = cellMeans(img, 8);
    expect([g.width, g.height]).toEqual([8, 8]);
    const cls = classifyCells(g, TOY_PALETTE);
    expect(cls[2 * 8 + 2]).toBe(CAT);
    expect(cls[4 * 8 + 3]).toBe(CAT);
    expect(cls[0]).toBe(LAWN);
    expect(cls.filter((c) => c === CAT).length).toBe(2 * 3);
  });

  it("regions: a one-cell gap is bridged with bridge 2, not with bridge 1", () => {
    // Two cat columns separated by one lawn column.
    const cls = new Int8Array(5 * 5).fill(LAWN);
    for (let y = 0; y < 5; y++) {
      cls[y * 5 + 1] = CAT;
      cls[y * 5 + 3] = CAT;
    }
    expect(regionAreas(cls, 5, 5, CAT, 1)).toEqual([5, 5]);
    expect(regionAreas(cls, 5, 5, CAT, 2)).toEqual([10]);
  });
});

describe("repetition", () => {
  const low = paint(512, [{ k: CAT, x0: 64, y0: 64, x1: 192, y1: 192 }]);

  it("two copies of an object score more than one", () => {
    const one = paint(1536, [{ k: CAT, x0: 192, y0: 192, x1: 576, y1: 576 }]);
    const two = paint(1536, [
      { k: CAT, x0: 192, y0: 192, x1: 576, y1: 576 },
      { k: CAT, x0: 1000, y0: 1000, x1: 1100, y1: 1100 },
    ]);
    expect(scoreImages(one, low).repetition).toBe(0);
    expect(scoreImages(two, low).repetition).toBe(1);
  });

  it("counts extras of every object, and a missing object does not offset an extra one", () => {
    const lowBoth = paint(512, [
      { k: CAT, x0: 64, y0: 64, x1: 192, y1: 192 },
      { k: DOG, x0: 300, y0: 300, x1: 450, y1: 400 },
    ]);
    const final = paint(1536, [
      { k: CAT, x0: 192, y0: 192, x1: 576, y1: 576 },
      { k: CAT, x0: 800, y0: 100, x1: 900, y1: 200 },
      { k: CAT, x0: 100, y0: 1200, x1: 200, y1: 1300 },
    ]);
    expect(scoreImages(final, lowBoth).repetition).toBe(2);
  });

  it("ignores specks below the minimum area, and a seam through an object does not split it", () => {
    const final = paint(1536, [
      { k: CAT, x0: 192, y0: 192, x1: 576, y1: 576 },
      { k: CAT, x0: 1000, y0: 1000, x1: 1016, y1: 1016 }, // 2x2 cells: 4 < 0.05% of 192^2
      { k: LAWN, x0: 400, y0: 192, x1: 408, y1: 576 }, // a one-cell seam
    ]);
    const a = analyse(final, {}, 3);
    expect(a.instances[CAT]).toBe(1);
    expect(repetition(a, analyse(low))).toBe(0);
  });

  it("bridges gaps of one low-res cell at every scale, not wider ones", () => {
    const split = (size: number, f: number, gapCells: number) =>
      paint(size, [
        { k: CAT, x0: 8 * f, y0: 8 * f, x1: 24 * f, y1: 40 * f },
        { k: CAT, x0: (24 + 8 * gapCells) * f, y0: 8 * f, x1: (40 + 8 * gapCells) * f, y1: 40 * f },
      ]);
    for (const f of [1, 2, 3]) {
      expect(analyse(split(128 * f, f, 1), {}, f).instances[CAT], `x${f} gap 1`).toBe(1);
      expect(analyse(split(128 * f, f, 2), {}, f).instances[CAT], `x${f} gap 2`).toBe(2);
    }
  });

  it("property: a nearest-upscaled low-res image never repeats, and keeps its structure", () => {
    const box = fc
      .record({
        k: fc.constantFrom(0, 1, 2, 3),
        x: fc.integer({ min: 0, max: 56 }),
        y: fc.integer({ min: 0, max: 56 }),
      })
      .chain((b) =>
        fc.record({ w: fc.integer({ min: 3, max: 64 - b.x }), h: fc.integer({ min: 3, max: 64 - b.y }) }).map((s) => ({
          k: b.k,
          x0: b.x * 8,
          y0: b.y * 8,
          x1: (b.x + s.w) * 8,
          y1: (b.y + s.h) * 8,
        })),
      );
    fc.assert(
      fc.property(fc.array(box, { minLength: 1, maxLength: 4 }), (boxes) => {
        const s = scoreImages(paint(1024, scaleBoxes(boxes, 2), 0), paint(512, boxes, 0));
        expect(s.repetition).toBe(0);
        expect(s.structure).toBeGreaterThan(0.75);
      }),
      { numRuns: 10 },
    );
  });
});

describe("structure", () => {
  const boxes: Box[] = [
    { k: CAT, x0: 64, y0: 64, x1: 192, y1: 192 },
    { k: DOG, x0: 280, y0: 300, x1: 480, y1: 420 },
  ];
  const low = paint(512, boxes);

  it("is near 1 for the same layout at 3x, lower when an object moves, lower still when it vanishes", () => {
    const same = scoreImages(paint(1536, scaleBoxes(boxes, 3)), low).structure;
    const moved = scoreImages(
      paint(1536, scaleBoxes([boxes[0], { ...boxes[1], x0: 200, x1: 400, y0: 100, y1: 220 }], 3)),
      low,
    ).structure;
    const gone = scoreImages(paint(1536, scaleBoxes([boxes[0]], 3)), low).structure;
    expect(same).toBeGreaterThan(0.95);
    expect(moved).toBeLessThan(same - 0.2);
    expect(gone).toBeCloseTo(same / 2, 1);
  });

  it("extra copies lower it (the union grows)", () => {
    const extra = scoreImages(
      paint(1536, [...scaleBoxes(boxes, 3), { k: CAT, x0: 1200, y0: 100, x1: 1500, y1: 400 }]),
      low,
    ).structure;
    expect(extra).toBeLessThan(0.85);
  });
});

describe("speckle", () => {
  it("is 0 for clean boxes, positive for a one-cell seam, and high for a dithered object", () => {
    const clean = analyse(paint(512, [{ k: CAT, x0: 64, y0: 64, x1: 320, y1: 320 }]));
    const seam = analyse(
      paint(512, [
        { k: CAT, x0: 64, y0: 64, x1: 320, y1: 320 },
        { k: LAWN, x0: 200, y0: 64, x1: 208, y1: 320 },
      ]),
    );
    const dots: Box[] = [{ k: CAT, x0: 64, y0: 64, x1: 320, y1: 320 }];
    for (let y = 72; y < 320; y += 24)
      for (let x = 72; x < 320; x += 24) dots.push({ k: LAWN, x0: x, y0: y, x1: x + 8, y1: y + 8 });
    const dithered = analyse(paint(512, dots));
    expect(speckle(clean)).toBe(0);
    expect(speckle(seam)).toBeGreaterThan(0);
    expect(speckle(dithered)).toBeGreaterThan(3 * speckle(seam));
  });
});
