import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cannyCondition, cropCondition, resizeCondition } from "./controlCondition";
import { bicubicResize } from "./tensor/bicubic";
import { autoCanny } from "./tensor/canny";
import type { View } from "./views";

/** The reference's way: materialise the zero-padded [3, H+2p, W+2p] image, slice, concatenate, repeat. */
function naiveCrop(cond: Float32Array, H: number, W: number, pad: number, views: View[], rep: number): number[] {
  const ph = H + 2 * pad;
  const pw = W + 2 * pad;
  const padded = new Float32Array(ph * pw);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) padded[(y + pad) * pw + x + pad] = cond[y * W + x];
  const out: number[] = [];
  for (const [h0, h1, w0, w1] of views) {
    const chan: number[] = [];
    for (let y = h0 * 8; y < Math.min(h1 * 8, ph); y++)
      for (let x = w0 * 8; x < Math.min(w1 * 8, pw); x++) chan.push(padded[y * pw + x]);
    for (let r = 0; r < rep; r++) out.push(...chan, ...chan, ...chan);
  }
  return out;
}

describe("cannyCondition", () => {
  it("is the auto_canny edge map divided by 255, single channel", () => {
    const h = 24;
    const w = 32;
    const img = new Uint8Array(h * w * 3);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        img.fill((x - 12) ** 2 + (y - 10) ** 2 < 49 ? 230 : 20, (y * w + x) * 3, (y * w + x) * 3 + 3);
    const { canny, cond } = cannyCondition(img, h, w, 0.3);
    expect(canny).toEqual(autoCanny(img, h, w, 0.3));
    expect(cond.length).toBe(h * w);
    expect(Array.from(cond)).toEqual(Array.from(canny.edges, (v) => v / 255));
    expect(cond.some((v) => v === 1)).toBe(true);
  });
});

describe("resizeCondition", () => {
  it("is the torch bicubic of the single plane (identical for all three reference channels)", () => {
    const cond = Float32Array.from({ length: 6 * 5 }, (_, i) => (i * 7) % 2);
    expect(resizeCondition(cond, 6, 5, 13, 11)).toEqual(bicubicResize(cond, 1, 6, 5, 13, 11));
  });
});

describe("cropCondition", () => {
  it("equals slicing the materialised zero-padded condition (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 2 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 2 }),
        fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 1, maxLength: 4 }),
        (hl, wl, jr, win, rep, starts) => {
          const H = hl * 8;
          const W = wl * 8;
          const cond = Float32Array.from({ length: H * W }, (_, i) => (i % 13) / 13 + 0.01);
          // Views of one size inside the padded latent frame.
          const vh = Math.min(win, hl + 2 * jr);
          const vw = Math.min(win, wl + 2 * jr);
          const views: View[] = starts.map(([a, b]) => {
            const h0 = a % (hl + 2 * jr - vh + 1);
            const w0 = b % (wl + 2 * jr - vw + 1);
            return [h0, h0 + vh, w0, w0 + vw];
          });
          const r = cropCondition(cond, H, W, jr * 8, views, undefined, { rowsPerView: rep });
          expect(r.shape).toEqual([views.length * rep, 3, vh * 8, vw * 8]);
          expect(Array.from(r.data)).toEqual(naiveCrop(cond, H, W, jr * 8, views, rep));
        },
      ),
    );
  });

  it("clips a view larger than the padded frame, like slicing", () => {
    const H = 16;
    const W = 8;
    const cond = new Float32Array(H * W).fill(1);
    // A 4x4 (latent) window over a 2x1 latent image padded by 0: the crop is the whole 16x8 image.
    const r = cropCondition(cond, H, W, 0, [[0, 4, 0, 4]]);
    expect(r.shape).toEqual([1, 3, 16, 8]);
    expect(r.data.every((v) => v === 1)).toBe(true);
  });

  it("writes into a preallocated buffer, overwriting stale values with the padding zeros", () => {
    const H = 8;
    const W = 8;
    const cond = new Float32Array(H * W).fill(0.5);
    const out = new Float32Array(2 * 3 * 64 + 10).fill(Number.NaN);
    const r = cropCondition(cond, H, W, 8, [[0, 1, 0, 1]], out, { rowsPerView: 2 });
    expect(r.data.buffer).toBe(out.buffer);
    // The view is entirely in the top-left padding.
    expect(r.data.every((v) => v === 0)).toBe(true);
  });

  it("rejects views of different sizes in one batch", () => {
    const cond = new Float32Array(64);
    expect(() =>
      cropCondition(cond, 8, 8, 8, [
        [0, 2, 0, 2],
        [0, 1, 0, 1],
      ]),
    ).toThrow(RangeError);
  });
});
