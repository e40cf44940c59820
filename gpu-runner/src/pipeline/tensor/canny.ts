/**
 * OpenCV-exact Canny edge detection (cv2.Canny of OpenCV 4.6 with its defaults: 3x3 Sobel with
 * BORDER_REPLICATE, L1 gradient |dx|+|dy|) and the reference's `auto_canny` thresholds.
 *
 * AccDiffusion v2 conditions the ControlNet of every upscaling phase on the edges of the previous
 * phase's image, computed on the RGB image itself (not a grey conversion). On a multi-channel input
 * OpenCV keeps, per pixel, the channel with the largest |dx|+|dy| (first channel wins ties).
 *
 * Memory: the gradient is computed one row ahead in rolling row buffers, so besides the input and the
 * output only an (h+2)*(w+2) byte map and the hysteresis stack are allocated: O(N), no recursion,
 * which matters for the 4096x4096 images of the last phase.
 */

/** tan(22.5°) in OpenCV's fixed point: (int)(0.4142135623730950488 * (1 << 15) + 0.5). */
const TG22 = 13573;
const CANNY_SHIFT = 15;

// Map states, as in OpenCV: 0 = weak survivor (may still become an edge), 1 = not an edge, 2 = edge.
const WEAK = 0;
const NONE = 1;
const EDGE = 2;

/**
 * Gradient of one image row, per pixel from the channel with the largest |dx|+|dy|.
 * vs/vd are scratch rows of (w+2)*cn: the vertical [1,2,1] smoothing and [-1,0,1] difference per
 * column, with the replicated border column at both ends, so the horizontal pass needs no clamping.
 * mag gets |dx|+|dy| at indices 1..w (its ends stay 0: "zero magnitude outside the image").
 */
function gradientRow(
  src: Uint8Array,
  h: number,
  w: number,
  cn: number,
  y: number,
  vs: Int32Array,
  vd: Int32Array,
  mag: Int32Array,
  dxRow: Int32Array,
  dyRow: Int32Array,
): void {
  const stride = w * cn;
  const r0 = (y > 0 ? y - 1 : 0) * stride;
  const r1 = y * stride;
  const r2 = (y < h - 1 ? y + 1 : h - 1) * stride;
  for (let i = 0; i < stride; i++) {
    const a = src[r0 + i];
    const b = src[r1 + i];
    const c = src[r2 + i];
    vs[cn + i] = a + 2 * b + c;
    vd[cn + i] = c - a;
  }
  // Replicated columns -1 and w.
  for (let k = 0; k < cn; k++) {
    vs[k] = vs[cn + k];
    vd[k] = vd[cn + k];
    vs[cn + stride + k] = vs[stride + k];
    vd[cn + stride + k] = vd[stride + k];
  }
  if (cn === 3) {
    gradientRow3(w, vs, vd, mag, dxRow, dyRow);
    return;
  }
  for (let x = 0; x < w; x++) {
    const base = (x + 1) * cn; // column x in the padded scratch rows
    let bestM = -1;
    let bestDx = 0;
    let bestDy = 0;
    for (let k = 0; k < cn; k++) {
      const i = base + k;
      const dx = vs[i + cn] - vs[i - cn];
      const dy = vd[i - cn] + 2 * vd[i] + vd[i + cn];
      const m = (dx < 0 ? -dx : dx) + (dy < 0 ? -dy : dy);
      // Strict '>' so the first channel wins ties, as OpenCV.
      if (m > bestM) {
        bestM = m;
        bestDx = dx;
        bestDy = dy;
      }
    }
    mag[x + 1] = bestM;
    dxRow[x] = bestDx;
    dyRow[x] = bestDy;
  }
}

/** The horizontal pass of gradientRow for 3 channels, unrolled (the same selection: first channel wins ties). */
function gradientRow3(
  w: number,
  vs: Int32Array,
  vd: Int32Array,
  mag: Int32Array,
  dxRow: Int32Array,
  dyRow: Int32Array,
) {
  for (let x = 0, i = 3; x < w; x++, i += 3) {
    const dx0 = vs[i + 3] - vs[i - 3];
    const dy0 = vd[i - 3] + 2 * vd[i] + vd[i + 3];
    const dx1 = vs[i + 4] - vs[i - 2];
    const dy1 = vd[i - 2] + 2 * vd[i + 1] + vd[i + 4];
    const dx2 = vs[i + 5] - vs[i - 1];
    const dy2 = vd[i - 1] + 2 * vd[i + 2] + vd[i + 5];
    const m0 = Math.abs(dx0) + Math.abs(dy0);
    const m1 = Math.abs(dx1) + Math.abs(dy1);
    const m2 = Math.abs(dx2) + Math.abs(dy2);
    let m = m0;
    let dx = dx0;
    let dy = dy0;
    if (m1 > m) {
      m = m1;
      dx = dx1;
      dy = dy1;
    }
    if (m2 > m) {
      m = m2;
      dx = dx2;
      dy = dy2;
    }
    mag[x + 1] = m;
    dxRow[x] = dx;
    dyRow[x] = dy;
  }
}

/**
 * cv2.Canny(image, low, high) with apertureSize 3 and L2gradient false, on an HWC uint8 image with
 * `channels` channels. Returns an h*w map of 0/255. Thresholds are swapped when low > high, as OpenCV.
 */
export function canny(
  src: Uint8Array,
  h: number,
  w: number,
  low: number,
  high: number,
  channels = 3,
  out?: Uint8Array,
): Uint8Array {
  const cn = channels;
  if (src.length !== h * w * cn) throw new RangeError(`canny: expected ${h * w * cn} values, got ${src.length}`);
  const dst = out ?? new Uint8Array(h * w);
  if (dst.length !== h * w) throw new RangeError("canny: out has the wrong length");
  if (low > high) [low, high] = [high, low];
  // OpenCV floors the (double) thresholds and compares integer magnitudes with them.
  const lowI = Math.floor(low);
  const highI = Math.floor(high);
  if (h === 0 || w === 0) return dst;

  const mw = w + 2; // map row stride: one border column each side
  const map = new Uint8Array((h + 2) * mw).fill(NONE);
  const vs = new Int32Array((w + 2) * cn);
  const vd = new Int32Array((w + 2) * cn);
  let magPrev = new Int32Array(w + 2); // row y-1 (zeros above the image)
  let magCur = new Int32Array(w + 2);
  let magNext = new Int32Array(w + 2);
  let dxCur = new Int32Array(w);
  let dyCur = new Int32Array(w);
  let dxNext = new Int32Array(w);
  let dyNext = new Int32Array(w);

  let stack: Int32Array = new Int32Array(Math.max(1024, (h * w) >> 5));
  let sp = 0;

  gradientRow(src, h, w, cn, 0, vs, vd, magCur, dxCur, dyCur);
  for (let y = 0; y < h; y++) {
    if (y + 1 < h) gradientRow(src, h, w, cn, y + 1, vs, vd, magNext, dxNext, dyNext);
    else magNext.fill(0); // zero magnitude below the image

    // Non-maximum suppression of row y (magCur index j+1 is pixel x = j).
    const mapRow = (y + 1) * mw + 1;
    for (let x = 0; x < w; x++) {
      const j = x + 1;
      const m = magCur[j];
      if (m <= lowI) continue;
      const xs = dxCur[x];
      const ys = dyCur[x];
      const ax = xs < 0 ? -xs : xs;
      const ay = (ys < 0 ? -ys : ys) << CANNY_SHIFT;
      const tg22x = ax * TG22;
      let survives: boolean;
      if (ay < tg22x) {
        // Near-horizontal gradient: compare with left (strict) and right (non-strict).
        survives = m > magCur[j - 1] && m >= magCur[j + 1];
      } else {
        const tg67x = tg22x + (ax << (CANNY_SHIFT + 1));
        if (ay > tg67x) {
          // Near-vertical gradient: compare with up (strict) and down (non-strict).
          survives = m > magPrev[j] && m >= magNext[j];
        } else {
          // Diagonal: s = -1 when dx and dy have opposite signs (OpenCV's (xs ^ ys) < 0).
          const s = (xs ^ ys) < 0 ? -1 : 1;
          survives = m > magPrev[j - s] && m > magNext[j + s];
        }
      }
      if (!survives) continue;
      const idx = mapRow + x;
      if (m > highI) {
        map[idx] = EDGE;
        if (sp === stack.length) stack = growStack(stack);
        stack[sp++] = idx;
      } else {
        map[idx] = WEAK;
      }
    }

    // Roll the row buffers: prev <- cur <- next.
    const tm = magPrev;
    magPrev = magCur;
    magCur = magNext;
    magNext = tm;
    const tdx = dxCur;
    dxCur = dxNext;
    dxNext = tdx;
    const tdy = dyCur;
    dyCur = dyNext;
    dyNext = tdy;
  }

  // Hysteresis: grow edges into 8-connected weak survivors. The border of the map is NONE, so no
  // bounds checks are needed.
  while (sp > 0) {
    const idx = stack[--sp];
    for (let dy = -mw; dy <= mw; dy += mw) {
      for (let dx = -1; dx <= 1; dx++) {
        const n = idx + dy + dx;
        if (map[n] === WEAK) {
          map[n] = EDGE;
          if (sp === stack.length) stack = growStack(stack);
          stack[sp++] = n;
        }
      }
    }
  }

  for (let y = 0; y < h; y++) {
    const mapRow = (y + 1) * mw + 1;
    const o = y * w;
    for (let x = 0; x < w; x++) dst[o + x] = map[mapRow + x] === EDGE ? 255 : 0;
  }
  return dst;
}

function growStack(stack: Int32Array): Int32Array {
  const next = new Int32Array(stack.length * 2);
  next.set(stack);
  return next;
}

/**
 * numpy.median of uint8 values (float64): the middle value, or the mean of the two middle values for
 * an even count. Uses a 256-bin histogram: O(N), no sort of a 50M-element copy.
 */
export function medianU8(values: Uint8Array): number {
  const n = values.length;
  if (n === 0) return Number.NaN;
  // Four interleaved histograms (summed after): neighbouring pixels often share a value, and one histogram would
  // serialise on that bin's increments.
  const parts = new Uint32Array(4 * 256);
  const n4 = n - (n % 4);
  for (let i = 0; i < n4; i += 4) {
    parts[values[i]]++;
    parts[256 + values[i + 1]]++;
    parts[512 + values[i + 2]]++;
    parts[768 + values[i + 3]]++;
  }
  for (let i = n4; i < n; i++) parts[values[i]]++;
  const hist = new Float64Array(256);
  for (let v = 0; v < 256; v++) hist[v] = parts[v] + parts[256 + v] + parts[512 + v] + parts[768 + v];
  // The k-th smallest value (0-based).
  const kth = (k: number): number => {
    let acc = 0;
    for (let v = 0; v < 256; v++) {
      acc += hist[v];
      if (acc > k) return v;
    }
    return 255;
  };
  if (n % 2 === 1) return kth((n - 1) / 2);
  return (kth(n / 2 - 1) + kth(n / 2)) / 2;
}

/** auto_canny's thresholds from the median, in float64 and truncated by int(). */
export function autoCannyThresholds(median: number, sigma: number): { lower: number; upper: number } {
  return {
    lower: Math.trunc(Math.max(0, (1.0 - sigma) * median)),
    upper: Math.trunc(Math.min(255, (1.0 + sigma) * median)),
  };
}

export interface AutoCannyResult {
  /** h*w, 0 or 255. */
  edges: Uint8Array;
  median: number;
  lower: number;
  upper: number;
}

/**
 * The reference's auto_canny on an RGB HWC uint8 image: median over all h*w*3 values, thresholds
 * (1 -/+ sigma)*median truncated, then Canny on the 3-channel image.
 */
export function autoCanny(rgbHWC: Uint8Array, h: number, w: number, sigma: number): AutoCannyResult {
  const median = medianU8(rgbHWC);
  const { lower, upper } = autoCannyThresholds(median, sigma);
  const edges = canny(rgbHWC, h, w, lower, upper, 3);
  return { edges, median, lower, upper };
}
