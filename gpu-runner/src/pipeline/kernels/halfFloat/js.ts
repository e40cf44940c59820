/**
 * IEEE 754 binary16 ("half") <-> binary32 conversion for fp16 bundles.
 *
 * onnxruntime-node on Node 20 has no Float16Array: float16 tensors carry their raw half bits in a
 * Uint16Array. Everything we feed an fp16 model goes through `toHalfArray` (round-to-nearest-even,
 * the rounding PyTorch's `.half()` and numpy's `astype(float16)` use), everything it returns goes
 * through `fromHalfArray` (exact: every half is a float32).
 *
 * The inputs are float32 values (our tensors are Float32Array). A float64 argument to
 * `float32ToHalfBits` is first rounded to float32, which can double-round; callers never pass
 * float64 data.
 */

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** Half bits of the float32 whose bit pattern is `bits` (uint32), rounded to nearest, ties to even. */
export function float32BitsToHalfBits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) {
    // Inf stays Inf; every NaN becomes the canonical quiet NaN (payloads are meaningless here).
    return mant === 0 ? sign | 0x7c00 : sign | 0x7e00;
  }
  // Re-bias the exponent: float32 bias 127, half bias 15.
  const e = exp - 112;
  if (e >= 0x1f) return sign | 0x7c00; // beyond 65504 + half an ulp: overflow to Inf
  if (e <= 0) {
    // Half subnormal (or zero): value = m * 2^-24 with the 24-bit significand shifted right.
    const shift = 14 - e;
    if (shift > 24) return sign; // below half of the smallest subnormal: +-0
    const significand = mant | 0x800000;
    let m = significand >>> shift;
    const rem = significand & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (m & 1) === 1)) m += 1;
    // m === 0x400 is exactly the smallest normal's encoding: the carry is already correct.
    return sign | m;
  }
  // Normal: keep the top 10 mantissa bits, round on the 13 dropped bits. A carry out of the
  // mantissa bumps the exponent, and out of exponent 30 gives 0x7c00 = Inf: both correct.
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h += 1;
  return sign | h;
}

/** Half bits of a float32 value (round to nearest, ties to even). */
export function float32ToHalfBits(x: number): number {
  scratchF32[0] = x;
  return float32BitsToHalfBits(scratchU32[0]);
}

/** The float value of half bits `h` (exact). */
export function halfBitsToFloat32(h: number): number {
  const negative = (h & 0x8000) !== 0;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  let v: number;
  if (e === 0) v = m * 2 ** -24;
  else if (e === 0x1f) v = m === 0 ? Number.POSITIVE_INFINITY : Number.NaN;
  else v = 2 ** (e - 15) * (1 + m / 1024);
  return negative ? -v : v;
}

let decodeTable: Float32Array | undefined;

/** All 65536 half values as float32, built on first use (256 KiB); decoding is then a lookup. */
function halfTable(): Float32Array {
  if (decodeTable === undefined) {
    decodeTable = new Float32Array(0x10000);
    for (let h = 0; h < 0x10000; h++) decodeTable[h] = halfBitsToFloat32(h);
  }
  return decodeTable;
}

/** Converts float32 values to half bits. `out` (same length) is reused when given. */
export function toHalfArray(src: Float32Array, out?: Uint16Array): Uint16Array {
  const dst = out ?? new Uint16Array(src.length);
  if (dst.length !== src.length) throw new RangeError(`toHalfArray: out has ${dst.length} elements, src ${src.length}`);
  // Read the float32 bit patterns directly: no per-element store through a scratch view.
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < bits.length; i++) dst[i] = float32BitsToHalfBits(bits[i]);
  return dst;
}

/** Converts half bits to float32 values. `out` (same length) is reused when given. */
export function fromHalfArray(src: Uint16Array, out?: Float32Array): Float32Array {
  const dst = out ?? new Float32Array(src.length);
  if (dst.length !== src.length)
    throw new RangeError(`fromHalfArray: out has ${dst.length} elements, src ${src.length}`);
  const table = halfTable();
  for (let i = 0; i < src.length; i++) dst[i] = table[src[i]];
  return dst;
}
