import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { getAttentionViews, getViews, jitterRange, type RandInt, scaleViews } from "./views";

/** A RandInt that draws with fast-check's seeded choices and records every call. */
function recording(values: number[]): { rand: RandInt; calls: [number, number, number][] } {
  const calls: [number, number, number][] = [];
  let k = 0;
  const rand: RandInt = (low, high) => {
    const v = low + (values[k++ % values.length] % (high - low + 1));
    calls.push([low, high, v]);
    return v;
  };
  return { rand, calls };
}

const geometry = fc
  .record({
    window: fc.integer({ min: 4, max: 48 }),
    h: fc.integer({ min: 1, max: 160 }),
    w: fc.integer({ min: 1, max: 160 }),
  })
  .chain((g) => fc.record({ g: fc.constant(g), stride: fc.integer({ min: Math.ceil(g.window / 4), max: g.window }) }));

describe("getViews without jitter", () => {
  it("matches the 2048x2048 SDXL tiling (9 views of 128 at stride 64)", () => {
    const v = getViews(256, 256, 128, 64);
    expect(v.length).toBe(9);
    expect(v[0]).toEqual([0, 128, 0, 128]);
    expect(v[8]).toEqual([128, 256, 128, 256]);
  });

  it("tiles every pixel with window-sized views, first at 0 and last flush with the far edge", () => {
    fc.assert(
      fc.property(geometry, ({ g, stride }) => {
        const views = getViews(g.h, g.w, g.window, stride);
        const nb = (s: number) => (s > g.window ? Math.trunc((s - g.window) / stride - 1e-6) + 2 : 1);
        expect(views.length).toBe(nb(g.h) * nb(g.w));
        const covered = new Uint8Array(g.h * g.w);
        let bad = 0;
        for (const [h0, h1, w0, w1] of views) {
          if (h1 - h0 !== g.window || w1 - w0 !== g.window || h0 < 0 || w0 < 0) bad++;
          // views past the image exist only when the image is smaller than the window
          if (h1 > Math.max(g.h, g.window) || w1 > Math.max(g.w, g.window)) bad++;
          for (let y = h0; y < Math.min(h1, g.h); y++) covered.fill(1, y * g.w + w0, y * g.w + Math.min(w1, g.w));
        }
        expect(bad).toBe(0);
        expect(covered.every((c) => c === 1)).toBe(true);
        const last = views[views.length - 1];
        expect(last[1]).toBe(Math.max(g.h, g.window));
        expect(last[3]).toBe(Math.max(g.w, g.window));
      }),
    );
  });

  it("returns one oversized view when the image is smaller than the window", () => {
    expect(getViews(12, 7, 16, 8)).toEqual([[0, 16, 0, 16]]);
  });
});

describe("jitter", () => {
  it("jitterRange is (window - stride) // 4, also for float strides", () => {
    expect(jitterRange(128, 64)).toBe(16);
    expect(jitterRange(16, 6)).toBe(2);
    expect(jitterRange(32, 16.0)).toBe(4);
    expect(jitterRange(33, 16.5)).toBe(4);
  });

  it("shifts each view by its draw + range, draws w before h, and respects the edge rules", () => {
    fc.assert(
      fc.property(geometry, fc.array(fc.nat(1000), { minLength: 1, maxLength: 50 }), ({ g, stride }, vals) => {
        const plain = getViews(g.h, g.w, g.window, stride);
        const { rand, calls } = recording(vals);
        const views = getViews(g.h, g.w, g.window, stride, rand);
        const r = jitterRange(g.window, stride);
        const wanted: [number, number, number][] = [];
        let bad = 0;
        for (let k = 0; k < views.length; k++) {
          const [ph0, ph1, pw0, pw1] = plain[k];
          const axes = [
            { start: pw0, end: pw1, size: g.w, off: views[k][2] - pw0 - r, span: views[k][3] - views[k][2] },
            { start: ph0, end: ph1, size: g.h, off: views[k][0] - ph0 - r, span: views[k][1] - views[k][0] },
          ];
          for (const a of axes) {
            if (a.span !== g.window) bad++;
            const interior = a.start !== 0 && a.end !== a.size;
            if (interior) wanted.push([-r, r, a.off]);
            else if (a.start === 0 && a.end !== a.size) wanted.push([-r, 0, a.off]);
            else if (a.start !== 0) wanted.push([0, r, a.off]);
            else if (a.off !== 0) bad++;
          }
        }
        expect(bad).toBe(0);
        expect(calls).toEqual(wanted);
      }),
    );
  });

  it("keeps jittered views inside the padded frame", () => {
    fc.assert(
      fc.property(geometry, fc.array(fc.nat(1000), { minLength: 1 }), ({ g, stride }, vals) => {
        const r = jitterRange(g.window, stride);
        let bad = 0;
        for (const [h0, h1, w0, w1] of getViews(g.h, g.w, g.window, stride, recording(vals).rand)) {
          if (h0 < 0 || w0 < 0) bad++;
          if (h1 > Math.max(g.h, g.window) + 2 * r || w1 > Math.max(g.w, g.window) + 2 * r) bad++;
        }
        expect(bad).toBe(0);
      }),
    );
  });
});

describe("getAttentionViews", () => {
  it("truncates fractional stride offsets to integers", () => {
    const v = getAttentionViews(40, 33, 33, 16.5);
    expect(v).toEqual([
      [0, 33, 0, 33],
      [7, 40, 0, 33],
    ]);
    const w = getAttentionViews(33, 66, 33, 16.5);
    expect(w.map((x) => x[2])).toEqual([0, 16, 33]);
  });

  it("scaleViews multiplies every coordinate", () => {
    expect(scaleViews([[1, 2, 3, 4]], 4)).toEqual([[4, 8, 12, 16]]);
  });
});

describe("views on an axis shorter than the window", () => {
  it("extend (reference): starts at 0, reaches past the image, and is still drawn", () => {
    const { rand, calls } = recording([0, 0, 0, 1]);
    const views = getViews(4, 20, 8, 4, rand);
    const jr = jitterRange(8, 4);
    expect(views.length).toBe(4);
    expect(calls.length).toBe(8); // w then h, per view
    for (const [h0, h1] of views) expect(h1 - h0).toBe(8);
    expect(new Set(views.map(([h0]) => h0)).size).toBeGreaterThan(1);
    for (const [h0] of views) expect(h0).toBeLessThanOrEqual(jr);
  });

  it("fit: spans exactly the axis (in the padded frame), is not drawn there, and all views share one size", () => {
    fc.assert(
      fc.property(geometry, fc.array(fc.nat(1000), { minLength: 1, maxLength: 8 }), ({ g, stride }, values) => {
        const { rand, calls } = recording(values);
        const jr = jitterRange(g.window, stride);
        const views = getViews(g.h, g.w, g.window, stride, rand, "fit");
        const reference = recording(values);
        const extended = getViews(g.h, g.w, g.window, stride, reference.rand);
        expect(views.length).toBe(extended.length);
        const sizes = new Set(views.map(([h0, h1, w0, w1]) => `${h1 - h0}x${w1 - w0}`));
        expect(sizes).toEqual(new Set([`${Math.min(g.h, g.window)}x${Math.min(g.w, g.window)}`]));
        for (const [h0, h1, w0, w1] of views) {
          if (g.h < g.window) expect([h0, h1]).toEqual([jr, jr + g.h]);
          if (g.w < g.window) expect([w0, w1]).toEqual([jr, jr + g.w]);
          expect(Math.min(h0, w0)).toBeGreaterThanOrEqual(0);
          expect(h1).toBeLessThanOrEqual(g.h + 2 * jr);
          expect(w1).toBeLessThanOrEqual(g.w + 2 * jr);
        }
        // Axes at least the window long are tiled and drawn exactly as the reference does.
        const drawsPerView = (g.h > g.window ? 1 : 0) + (g.w > g.window ? 1 : 0);
        if (g.h >= g.window && g.w >= g.window) expect(views).toEqual(extended);
        else expect(calls.length).toBe(views.length * drawsPerView);
      }),
    );
  });
});
