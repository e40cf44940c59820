/**
 * Nearest-neighbour resize of a uint8 mask with OpenCV's `cv2.resize(..., INTER_NEAREST)` rule.
 *
 * The reference upsamples the per-token attention masks with it. OpenCV computes the inverse
 * scale as `1 / (dst/src)` in double precision and takes `src = min(floor(dst * inv), src - 1)`
 * (no half-pixel offset, unlike PyTorch's "nearest-exact"). For integer factors every source
 * pixel is simply replicated `factor` times.
 */

/** Source index per destination index along one axis, OpenCV INTER_NEAREST convention. */
export function nearestIndex(inSize: number, outSize: number): Int32Array {
  if (!(inSize > 0 && outSize > 0))
    throw new RangeError(`nearestIndex: sizes must be positive (${inSize}, ${outSize})`);
  // Same double-precision expression as OpenCV's resizeNN (ifx = 1./fx with fx = dst/src).
  const inv = 1 / (outSize / inSize);
  const idx = new Int32Array(outSize);
  for (let o = 0; o < outSize; o++) idx[o] = Math.min(Math.floor(o * inv), inSize - 1);
  return idx;
}

/** Resizes a row-major `inH x inW` uint8 mask to `outH x outW` (cv2 dsize = (outW, outH)). */
export function resizeNearestU8(
  src: Uint8Array,
  inH: number,
  inW: number,
  outH: number,
  outW: number,
  out?: Uint8Array,
): Uint8Array {
  if (src.length < inH * inW) throw new RangeError("resizeNearestU8: src is shorter than inH*inW");
  const dst = out ?? new Uint8Array(outH * outW);
  if (dst.length < outH * outW) throw new RangeError("resizeNearestU8: out is shorter than outH*outW");
  const xs = nearestIndex(inW, outW);
  const ys = nearestIndex(inH, outH);
  for (let y = 0; y < outH; y++) {
    const sRow = ys[y] * inW;
    const dRow = y * outW;
    for (let x = 0; x < outW; x++) dst[dRow + x] = src[sRow + xs[x]];
  }
  return dst;
}
