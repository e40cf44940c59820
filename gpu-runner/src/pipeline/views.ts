/**
 * MultiDiffusion views: the overlapping windows each upscaling phase denoises patch by patch, and
 * their random jitter (AccDiffusion's remedy for seams that stay at fixed window borders).
 *
 * A view is half-open `[h0, h1, w0, w1]`. Two reference functions share this tiling:
 * `pipeline.get_views` (latent units, integer stride) and `utils.get_views` (cross-attention map
 * units, float stride window/2). With jitter, each view is shifted by its random offset plus
 * `jitterRange`, i.e. its coordinates are in the frame of the latent zero-padded by `jitterRange`
 * on every side.
 */

/** Half-open view `[hStart, hEnd, wStart, wEnd]`. */
export type View = [h0: number, h1: number, w0: number, w1: number];

/** A uniform integer in [low, high], both inclusive, like Python's random.randint. */
export type RandInt = (low: number, high: number) => number;

/** Python's float floor division `a // b` (fmod-based, so it agrees with CPython in edge cases). */
function pyFloorDiv(a: number, b: number): number {
  let mod = a % b;
  let div = (a - mod) / b;
  if (mod !== 0 && b < 0 !== mod < 0) {
    mod += b;
    div -= 1;
  }
  if (div === 0) return 0 * (a / b); // keeps the sign of zero like CPython
  let floor = Math.floor(div);
  if (div - floor > 0.5) floor += 1;
  return floor;
}

/** How far a view may be jittered: (window - stride) // 4; also the padding of the jittered frame. */
export function jitterRange(window: number, stride: number): number {
  return pyFloorDiv(window - stride, 4);
}

/**
 * What a window does on an axis shorter than itself. The reference's "extend": it starts at 0 and reaches past the
 * image (slicing clips it), and is still jittered, so the views of a batch can clip to different sizes, which the
 * reference cannot batch (see referenceLimits.ts); quirk `extendAndClipShortAxis`. "fit" (the default): the window is
 * the whole axis, so it has nothing to jitter against and is not drawn on that axis; every view of a phase then has
 * the same size.
 */
export type ShortAxis = "extend" | "fit";

/** Windows along one axis: 1 when the window covers it, else enough to reach the far edge. */
function blockCount(size: number, window: number, stride: number): number {
  return size > window ? Math.trunc((size - window) / stride - 1e-6) + 2 : 1;
}

/**
 * The jitter draw for one axis, per the reference: an interior view may move either way; a view at
 * exactly one image edge may only move outward from the image, into the zero padding beyond that
 * edge; a view whose start is 0 and whose end equals the size is not drawn at all. (A view larger
 * than the image starts at 0 but does not end at the size, so it is drawn in [-range, 0].)
 */
function drawJitter(start: number, end: number, size: number, range: number, rand: RandInt): number {
  if (start !== 0 && end !== size) return rand(-range, range);
  if (start === 0 && end !== size) return rand(-range, 0);
  if (start !== 0 && end === size) return rand(0, range);
  return 0;
}

function tileViews(
  height: number,
  width: number,
  window: number,
  stride: number,
  jitter: RandInt | undefined,
  shortAxis: ShortAxis,
): View[] {
  const nbH = blockCount(height, window, stride);
  const nbW = blockCount(width, window, stride);
  const range = jitter ? jitterRange(window, stride) : 0;
  const views: View[] = [];
  for (let k = 0; k < nbH * nbW; k++) {
    let h0 = Math.trunc(Math.floor(k / nbW) * stride);
    let w0 = Math.trunc((k % nbW) * stride);
    let h1 = h0 + window;
    let w1 = w0 + window;
    // Clamp the last window to the far edge; a window larger than the image starts at 0 and
    // extends past it (the slicing that consumes it clips).
    if (h1 > height) {
      h0 += height - h1;
      h1 = height;
    }
    if (w1 > width) {
      w0 += width - w1;
      w1 = width;
    }
    if (h0 < 0) {
      h1 -= h0;
      h0 = 0;
    }
    if (w0 < 0) {
      w1 -= w0;
      w0 = 0;
    }
    if (shortAxis === "fit") {
      h1 = Math.min(h1, height);
      w1 = Math.min(w1, width);
    }
    if (jitter) {
      // Order matters for replaying the reference's draws: w first, then h.
      const wj = drawJitter(w0, w1, width, range, jitter);
      const hj = drawJitter(h0, h1, height, range, jitter);
      h0 += hj + range;
      h1 += hj + range;
      w0 += wj + range;
      w1 += wj + range;
    }
    views.push([Math.trunc(h0), Math.trunc(h1), Math.trunc(w0), Math.trunc(w1)]);
  }
  return views;
}

/**
 * `pipeline.get_views` in latent units (the reference takes pixels and floor-divides by 8 first).
 * Row-major over the grid. With `jitter`, views are in the frame padded by jitterRange(window, stride).
 */
export function getViews(
  height: number,
  width: number,
  window: number,
  stride: number,
  jitter?: RandInt,
  shortAxis: ShortAxis = "extend",
): View[] {
  return tileViews(height, width, window, stride, jitter, shortAxis);
}

/**
 * `utils.get_views` over a cross-attention map (window = map size, stride = window/2, possibly
 * fractional). Same tiling and jitter rules as getViews.
 */
export function getAttentionViews(
  height: number,
  width: number,
  window: number,
  stride: number,
  jitter?: RandInt,
  shortAxis: ShortAxis = "extend",
): View[] {
  return tileViews(height, width, window, stride, jitter, shortAxis);
}

/** Multiplies all four coordinates (the reference turns attention views into latent views with a fixed 4). */
export function scaleViews(views: readonly View[], factor: number): View[] {
  return views.map(([h0, h1, w0, w1]) => [h0 * factor, h1 * factor, w0 * factor, w1 * factor]);
}
