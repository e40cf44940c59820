/**
 * Bicubic resize with PyTorch's `F.interpolate(mode="bicubic", align_corners=False)` semantics.
 *
 * The reference upscales the latents between phases (and the ControlNet condition image) with an
 * explicit output size, so the per-axis scale is `in/out` computed from the sizes. PyTorch's CPU
 * kernel works in float32: the source coordinate, the fractional offset and the four cubic
 * weights (A = -0.75) are float32, taps are clamped to the edge (replicate), and the 2-D sum is
 * separable with the width interpolated first inside the height interpolation. We mirror that
 * order (width pass, then height pass) and round every product and partial sum to float32, so the
 * result matches the reference to the last bit or so. No antialiasing, no output clamping.
 */

const A = -0.75;

/** Four clamped tap indices and float32 weights per output position along one axis. */
export interface CubicTaps {
  /** [outSize * 4] source indices, already clamped to [0, inSize - 1]. */
  index: Int32Array;
  /** [outSize * 4] float32 weights in tap order floor-1 .. floor+2. */
  weight: Float32Array;
}

const f = Math.fround;

/** Cubic convolution for |x| <= 1 (float32 arithmetic, as PyTorch's cubic_convolution1). */
function cubicNear(x: number): number {
  return f(f(f(f(f(f(A + 2) * x) - f(A + 3)) * x) * x) + 1);
}

/** Cubic convolution for 1 < |x| < 2 (float32 arithmetic, as PyTorch's cubic_convolution2). */
function cubicFar(x: number): number {
  return f(f(f(f(f(f(f(A * x) - f(5 * A)) * x) + f(8 * A)) * x)) - f(4 * A));
}

/**
 * Taps and weights for resizing one axis from `inSize` to `outSize` samples.
 * The source coordinate is `(dst + 0.5) * (in/out) - 0.5`, NOT clamped to >= 0 (cubic mode).
 */
export function cubicTaps(inSize: number, outSize: number): CubicTaps {
  if (!(inSize > 0 && outSize > 0)) throw new RangeError(`cubicTaps: sizes must be positive (${inSize}, ${outSize})`);
  const index = new Int32Array(outSize * 4);
  const weight = new Float32Array(outSize * 4);
  const scale = f(inSize / outSize);
  const last = inSize - 1;
  for (let o = 0; o < outSize; o++) {
    const real = f(f(scale * f(o + 0.5)) - 0.5);
    const base = Math.min(Math.floor(real), last);
    const t = Math.min(Math.max(f(real - base), 0), 1);
    const t2 = f(1 - t);
    const k = o * 4;
    weight[k] = cubicFar(f(t + 1));
    weight[k + 1] = cubicNear(t);
    weight[k + 2] = cubicNear(t2);
    weight[k + 3] = cubicFar(f(t2 + 1));
    for (let j = 0; j < 4; j++) {
      const s = base - 1 + j;
      index[k + j] = Math.min(Math.max(s, 0), last);
    }
  }
  return { index, weight };
}

/**
 * Resizes `planes` independent row-major planes of `inH x inW` (e.g. N*C of an NCHW tensor) to
 * `outH x outW`. Returns `out` (allocated when not given, length planes*outH*outW).
 */
export function bicubicResize(
  src: Float32Array,
  planes: number,
  inH: number,
  inW: number,
  outH: number,
  outW: number,
  out?: Float32Array,
): Float32Array {
  const inPlane = inH * inW;
  const outPlane = outH * outW;
  if (src.length < planes * inPlane) throw new RangeError("bicubicResize: src is shorter than planes*inH*inW");
  const dst = out ?? new Float32Array(planes * outPlane);
  if (dst.length < planes * outPlane) throw new RangeError("bicubicResize: out is shorter than planes*outH*outW");
  const tx = cubicTaps(inW, outW);
  const ty = cubicTaps(inH, outH);
  const xi = tx.index;
  const xw = tx.weight;
  const yi = ty.index;
  const yw = ty.weight;
  // One width-interpolated plane (inH x outW), reused for every plane: no per-plane allocation.
  const rows = new Float32Array(inH * outW);
  for (let p = 0; p < planes; p++) {
    const sBase = p * inPlane;
    for (let y = 0; y < inH; y++) {
      const sRow = sBase + y * inW;
      const rRow = y * outW;
      for (let x = 0; x < outW; x++) {
        const k = x * 4;
        let acc = f(src[sRow + xi[k]] * xw[k]);
        acc = f(acc + f(src[sRow + xi[k + 1]] * xw[k + 1]));
        acc = f(acc + f(src[sRow + xi[k + 2]] * xw[k + 2]));
        acc = f(acc + f(src[sRow + xi[k + 3]] * xw[k + 3]));
        rows[rRow + x] = acc;
      }
    }
    const dBase = p * outPlane;
    for (let y = 0; y < outH; y++) {
      const k = y * 4;
      const r0 = yi[k] * outW;
      const r1 = yi[k + 1] * outW;
      const r2 = yi[k + 2] * outW;
      const r3 = yi[k + 3] * outW;
      const w0 = yw[k];
      const w1 = yw[k + 1];
      const w2 = yw[k + 2];
      const w3 = yw[k + 3];
      const dRow = dBase + y * outW;
      for (let x = 0; x < outW; x++) {
        let acc = f(rows[r0 + x] * w0);
        acc = f(acc + f(rows[r1 + x] * w1));
        acc = f(acc + f(rows[r2 + x] * w2));
        acc = f(acc + f(rows[r3 + x] * w3));
        dst[dRow + x] = acc;
      }
    }
  }
  return dst;
}
