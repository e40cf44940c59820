import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { autoCanny, autoCannyThresholds, canny, medianU8 } from "./canny";

/** An h*w*3 image whose three channels all equal f(y, x). */
function rgbFrom(h: number, w: number, f: (y: number, x: number) => number): Uint8Array {
  const img = new Uint8Array(h * w * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) img.fill(f(y, x), (y * w + x) * 3, (y * w + x) * 3 + 3);
  return img;
}

function edgeCoords(edges: Uint8Array, w: number): [number, number][] {
  const out: [number, number][] = [];
  edges.forEach((v, i) => {
    if (v !== 0) out.push([Math.floor(i / w), i % w]);
  });
  return out;
}

const imageArb = fc
  .record({ h: fc.integer({ min: 1, max: 14 }), w: fc.integer({ min: 1, max: 14 }) })
  .chain(({ h, w }) =>
    fc.record({
      h: fc.constant(h),
      w: fc.constant(w),
      // Few grey levels so that edges, ties and plateaus are common.
      px: fc.array(fc.constantFrom(0, 10, 60, 61, 128, 200, 255), { minLength: h * w * 3, maxLength: h * w * 3 }),
    }),
  );

describe("canny", () => {
  it("finds no edge in a constant image", () => {
    const img = rgbFrom(9, 11, () => 77);
    expect(canny(img, 9, 11, 0, 0).every((v) => v === 0)).toBe(true);
  });

  it("marks a vertical step on the left column of the step only (m > left, m >= right)", () => {
    const h = 8;
    const w = 10;
    const img = rgbFrom(h, w, (_y, x) => (x < 5 ? 20 : 220));
    const edges = canny(img, h, w, 50, 100);
    // Columns 4 and 5 have equal magnitude; only column 4 passes "m >= right" and "m > left".
    expect(edgeCoords(edges, w)).toEqual(Array.from({ length: h }, (_, y) => [y, 4]));
  });

  it("marks a horizontal step on the upper row of the step only (m > up, m >= down)", () => {
    const h = 9;
    const w = 7;
    const img = rgbFrom(h, w, (y) => (y < 3 ? 200 : 0));
    const edges = canny(img, h, w, 50, 100);
    expect(edgeCoords(edges, w)).toEqual(Array.from({ length: w }, (_, x) => [2, x]));
  });

  it("uses the channel with the largest gradient, not a grey conversion", () => {
    const h = 6;
    const w = 8;
    const img = new Uint8Array(h * w * 3);
    // Only the green channel has a step; a grey average would see a third of the contrast.
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) img[(y * w + x) * 3 + 1] = x < 4 ? 0 : 90;
    // |dx| = 4*90 = 360 at the step: above a high threshold of 300; the grey step (30 -> 120) is not.
    expect(edgeCoords(canny(img, h, w, 200, 300), w)).toEqual(Array.from({ length: h }, (_, y) => [y, 3]));
  });

  it("keeps weak edges connected to strong ones and drops isolated weak ones (hysteresis)", () => {
    const h = 12;
    const w = 12;
    // A vertical step whose contrast is strong in rows 0..5 and weak below.
    const connected = rgbFrom(h, w, (y, x) => (x < 6 ? 0 : y < 6 ? 200 : 40));
    const e1 = canny(connected, h, w, 100, 500);
    // Weak magnitude 4*40 = 160 > low; strong 800 > high. The weak rows below the junction (where
    // the edge steps through column 6) are reached through 8-connectivity.
    const col5 = edgeCoords(e1, w)
      .filter(([, x]) => x === 5)
      .map(([y]) => y);
    expect(col5).toEqual([0, 1, 2, 3, 4, 7, 8, 9, 10, 11]);
    // The same weak step without any strong part vanishes.
    const isolated = rgbFrom(h, w, (_y, x) => (x < 6 ? 0 : 40));
    expect(canny(isolated, h, w, 100, 500).every((v) => v === 0)).toBe(true);
  });

  it("swaps thresholds given in the wrong order, like OpenCV", () => {
    const img = rgbFrom(10, 10, (y, x) => ((x * 37 + y * 11) % 5) * 50);
    expect(canny(img, 10, 10, 200, 80)).toEqual(canny(img, 10, 10, 80, 200));
  });

  it("on a grey image equals single-channel Canny (property)", () => {
    fc.assert(
      fc.property(
        imageArb,
        fc.integer({ min: 0, max: 300 }),
        fc.integer({ min: 0, max: 300 }),
        ({ h, w, px }, a, b) => {
          const grey = Uint8Array.from(px.slice(0, h * w));
          const rgb = new Uint8Array(h * w * 3);
          for (let i = 0; i < h * w; i++) rgb.fill(grey[i], 3 * i, 3 * i + 3);
          expect(canny(rgb, h, w, a, b, 3)).toEqual(canny(grey, h, w, a, b, 1));
        },
      ),
    );
  });

  it("only shrinks when either threshold grows (property)", () => {
    fc.assert(
      fc.property(
        imageArb,
        fc.integer({ min: 0, max: 600 }),
        fc.integer({ min: 0, max: 600 }),
        fc.integer({ min: 0, max: 300 }),
        ({ h, w, px }, low, high, extra) => {
          const img = Uint8Array.from(px);
          const lo = Math.min(low, high);
          const hi = Math.max(low, high);
          const base = canny(img, h, w, lo, hi);
          const higherHigh = canny(img, h, w, lo, hi + extra);
          const higherLow = canny(img, h, w, Math.min(lo + extra, hi), hi);
          for (let i = 0; i < base.length; i++) {
            expect(base[i] === 0 || base[i] === 255).toBe(true);
            if (higherHigh[i]) expect(base[i]).toBe(255);
            if (higherLow[i]) expect(base[i]).toBe(255);
          }
        },
      ),
    );
  });
});

describe("autoCanny", () => {
  it("takes numpy's median: middle value, or the mean of the two middle values", () => {
    expect(medianU8(Uint8Array.from([9, 1, 5]))).toBe(5);
    expect(medianU8(Uint8Array.from([9, 1, 5, 2]))).toBe(3.5);
    expect(medianU8(Uint8Array.from([255, 254]))).toBe(254.5);
  });

  it("matches a sort-based median (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 60 }), (vals) => {
        const s = [...vals].sort((a, b) => a - b);
        const n = s.length;
        const expected = n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
        expect(medianU8(Uint8Array.from(vals))).toBe(expected);
      }),
    );
  });

  it("truncates the thresholds and clamps them to [0, 255]", () => {
    expect(autoCannyThresholds(184, 0.3)).toEqual({ lower: 128, upper: 239 });
    expect(autoCannyThresholds(184, 0.6)).toEqual({ lower: 73, upper: 255 });
    expect(autoCannyThresholds(100, 1.5)).toEqual({ lower: 0, upper: 250 });
    expect(autoCannyThresholds(0, 0.3)).toEqual({ lower: 0, upper: 0 });
  });

  it("takes the median over all three channels", () => {
    const h = 4;
    const w = 4;
    const img = new Uint8Array(h * w * 3);
    // Red is 200 everywhere, green and blue 0: median over 48 values is 0.
    for (let i = 0; i < h * w; i++) img[3 * i] = 200;
    const r = autoCanny(img, h, w, 0.3);
    expect([r.median, r.lower, r.upper]).toEqual([0, 0, 0]);
    expect(r.edges.length).toBe(h * w);
  });
});
