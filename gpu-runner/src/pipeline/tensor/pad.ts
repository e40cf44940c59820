/**
 * Zero padding and cropping of stacks of row-major planes (N*C planes of an NCHW tensor).
 *
 * AccDiffusion pads in two places: MultiDiffusion zero-pads the latent by the jitter range on
 * all four sides (`F.pad(x, (jr, jr, jr, jr))`), and dilated sampling pads only on the TOP and
 * LEFT (`F.pad(x, (w_pad, 0, h_pad, 0))`). Both branches crop their accumulators back afterwards.
 */

/** Padding amounts per side, in pixels. */
export interface Padding {
  top: number;
  bottom: number;
  left: number;
  right: number;
}

/**
 * Copies `planes` planes of `h x w` into the interior of zero planes of
 * `(top + h + bottom) x (left + w + right)`. A reused `out` is fully overwritten (border zeroed).
 */
export function padPlanes(
  src: Float32Array,
  planes: number,
  h: number,
  w: number,
  pad: Padding,
  out?: Float32Array,
): Float32Array {
  const { top, bottom, left, right } = pad;
  const ph = top + h + bottom;
  const pw = left + w + right;
  const n = planes * ph * pw;
  if (src.length < planes * h * w) throw new RangeError("padPlanes: src is shorter than planes*h*w");
  const dst = out ?? new Float32Array(n);
  if (dst.length < n) throw new RangeError("padPlanes: out is too short");
  if (out) dst.fill(0, 0, n);
  for (let p = 0; p < planes; p++) {
    for (let y = 0; y < h; y++) {
      const s = (p * h + y) * w;
      dst.set(src.subarray(s, s + w), (p * ph + top + y) * pw + left);
    }
  }
  return dst;
}

/**
 * Copies the window `[top, top + outH) x [left, left + outW)` of each `h x w` plane into
 * `planes` planes of `outH x outW` (the slice `x[:, :, top:top+outH, left:left+outW]`).
 */
export function cropPlanes(
  src: Float32Array,
  planes: number,
  h: number,
  w: number,
  top: number,
  left: number,
  outH: number,
  outW: number,
  out?: Float32Array,
): Float32Array {
  if (top < 0 || left < 0 || top + outH > h || left + outW > w) {
    throw new RangeError(`cropPlanes: window ${top}+${outH} x ${left}+${outW} outside ${h} x ${w}`);
  }
  const n = planes * outH * outW;
  const dst = out ?? new Float32Array(n);
  if (dst.length < n) throw new RangeError("cropPlanes: out is too short");
  for (let p = 0; p < planes; p++) {
    for (let y = 0; y < outH; y++) {
      const s = (p * h + top + y) * w + left;
      dst.set(src.subarray(s, s + outW), (p * outH + y) * outW);
    }
  }
  return dst;
}
