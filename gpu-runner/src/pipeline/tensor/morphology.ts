/**
 * 3x3 erosion and dilation of uint8 masks with OpenCV's default border semantics
 * (cv2.erode / cv2.dilate with `np.ones((3, 3))`, BORDER_CONSTANT and morphologyDefaultBorderValue):
 * pixels outside the image never take part, so erosion never eats in from the border and dilation
 * never grows out of it. AccDiffusion cleans each token's attention mask with an erosion followed by a
 * dilation (an opening), `rows // 16` iterations each.
 *
 * A 3x3 rectangle is separable, and with out-of-image pixels ignored the clipped 3x3 window is the
 * product of a clipped 1x3 and a clipped 3x1 window, so each iteration is a row pass and a column
 * pass. `iterations` passes equal OpenCV's single pass with a (2k+1)x(2k+1) kernel.
 */

function morph3x3(
  src: Uint8Array,
  h: number,
  w: number,
  iterations: number,
  erode: boolean,
  out: Uint8Array | undefined,
): Uint8Array {
  const n = h * w;
  if (src.length !== n) throw new RangeError(`morphology: expected ${n} values, got ${src.length}`);
  if (!Number.isInteger(iterations) || iterations < 0) throw new RangeError("morphology: iterations must be >= 0");
  const dst = out ?? new Uint8Array(n);
  if (dst.length !== n) throw new RangeError("morphology: out has the wrong length");
  if (dst !== src) dst.set(src);
  if (n === 0) return dst;
  const tmp = new Uint8Array(n);
  for (let it = 0; it < iterations; it++) {
    // Row pass: dst -> tmp.
    for (let y = 0; y < h; y++) {
      const o = y * w;
      for (let x = 0; x < w; x++) {
        let v = dst[o + x];
        if (x > 0) {
          const l = dst[o + x - 1];
          v = erode ? Math.min(l, v) : Math.max(l, v);
        }
        if (x < w - 1) {
          const r = dst[o + x + 1];
          v = erode ? Math.min(r, v) : Math.max(r, v);
        }
        tmp[o + x] = v;
      }
    }
    // Column pass: tmp -> dst.
    for (let y = 0; y < h; y++) {
      const o = y * w;
      for (let x = 0; x < w; x++) {
        let v = tmp[o + x];
        if (y > 0) {
          const u = tmp[o - w + x];
          v = erode ? Math.min(u, v) : Math.max(u, v);
        }
        if (y < h - 1) {
          const d = tmp[o + w + x];
          v = erode ? Math.min(d, v) : Math.max(d, v);
        }
        dst[o + x] = v;
      }
    }
  }
  return dst;
}

/** cv2.erode(src, ones(3,3), iterations) on an h x w uint8 image; iterations 0 copies. */
export function erode3x3(src: Uint8Array, h: number, w: number, iterations = 1, out?: Uint8Array): Uint8Array {
  return morph3x3(src, h, w, iterations, true, out);
}

/** cv2.dilate(src, ones(3,3), iterations) on an h x w uint8 image; iterations 0 copies. */
export function dilate3x3(src: Uint8Array, h: number, w: number, iterations = 1, out?: Uint8Array): Uint8Array {
  return morph3x3(src, h, w, iterations, false, out);
}
