/** A view's box and its clipping, shared by the reference functions and the fused kernels. */

/** A half-open window `[h0, h1, w0, w1]` (same layout as views.ts `View`). */
export type ViewBox = readonly [h0: number, h1: number, w0: number, w1: number];

/** The region of `view` inside an `H x W` frame, clipped like Python slicing. */
export function clipView(view: ViewBox, H: number, W: number): { h0: number; h1: number; w0: number; w1: number } {
  const h0 = Math.min(Math.max(view[0], 0), H);
  const w0 = Math.min(Math.max(view[2], 0), W);
  return { h0, h1: Math.min(Math.max(view[1], h0), H), w0, w1: Math.min(Math.max(view[3], w0), W) };
}
