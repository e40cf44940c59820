/**
 * The inner loop of separable filters: `acc[x] += sum_t g[t0 + t] * v[s + t*stride + x]` over x < w for up to 8 taps,
 * added one tap after the other (`((acc + g0*v0) + g1*v1) + ...`, the order of a plain loop over taps, so results are
 * bit-identical to it). Unrolled by hand: V8 then keeps the weights in registers and the row loads independent,
 * which on a 4x512x512 latent is 2-3x faster than a loop over taps per element. Longer kernels take several calls.
 *
 * Two copies, for float32 sources and float64 rows, so that each stays monomorphic (a polymorphic element load costs
 * another ~30%).
 */

/** Float32 source rows (e.g. the column pass over a latent plane). */
export function addTapsF32(
  acc: Float64Array,
  v: Float32Array,
  s: number,
  stride: number,
  g: Float32Array,
  t0: number,
  n: number,
  w: number,
): void {
  const g0 = g[t0];
  const g1 = n > 1 ? g[t0 + 1] : 0;
  const g2 = n > 2 ? g[t0 + 2] : 0;
  const g3 = n > 3 ? g[t0 + 3] : 0;
  const g4 = n > 4 ? g[t0 + 4] : 0;
  const g5 = n > 5 ? g[t0 + 5] : 0;
  const g6 = n > 6 ? g[t0 + 6] : 0;
  const g7 = n > 7 ? g[t0 + 7] : 0;
  const s1 = s + stride;
  const s2 = s1 + stride;
  const s3 = s2 + stride;
  const s4 = s3 + stride;
  const s5 = s4 + stride;
  const s6 = s5 + stride;
  const s7 = s6 + stride;
  switch (n) {
    case 8:
      for (let x = 0; x < w; x++) {
        acc[x] =
          acc[x] +
          g0 * v[s + x] +
          g1 * v[s1 + x] +
          g2 * v[s2 + x] +
          g3 * v[s3 + x] +
          g4 * v[s4 + x] +
          g5 * v[s5 + x] +
          g6 * v[s6 + x] +
          g7 * v[s7 + x];
      }
      break;
    case 7:
      for (let x = 0; x < w; x++) {
        acc[x] =
          acc[x] +
          g0 * v[s + x] +
          g1 * v[s1 + x] +
          g2 * v[s2 + x] +
          g3 * v[s3 + x] +
          g4 * v[s4 + x] +
          g5 * v[s5 + x] +
          g6 * v[s6 + x];
      }
      break;
    case 6:
      for (let x = 0; x < w; x++) {
        acc[x] =
          acc[x] + g0 * v[s + x] + g1 * v[s1 + x] + g2 * v[s2 + x] + g3 * v[s3 + x] + g4 * v[s4 + x] + g5 * v[s5 + x];
      }
      break;
    case 5:
      for (let x = 0; x < w; x++) {
        acc[x] = acc[x] + g0 * v[s + x] + g1 * v[s1 + x] + g2 * v[s2 + x] + g3 * v[s3 + x] + g4 * v[s4 + x];
      }
      break;
    case 4:
      for (let x = 0; x < w; x++) acc[x] = acc[x] + g0 * v[s + x] + g1 * v[s1 + x] + g2 * v[s2 + x] + g3 * v[s3 + x];
      break;
    case 3:
      for (let x = 0; x < w; x++) acc[x] = acc[x] + g0 * v[s + x] + g1 * v[s1 + x] + g2 * v[s2 + x];
      break;
    case 2:
      for (let x = 0; x < w; x++) acc[x] = acc[x] + g0 * v[s + x] + g1 * v[s1 + x];
      break;
    case 1:
      for (let x = 0; x < w; x++) acc[x] = acc[x] + g0 * v[s + x];
      break;
    default:
      throw new RangeError(`addTaps: 1..8 taps per call, got ${n}`);
  }
}

/** Float64 source rows (e.g. the row pass over a zero-bordered row buffer, stride 1). */
export function addTapsF64(
  acc: Float64Array,
  v: Float64Array,
  s: number,
  stride: number,
  g: Float32Array,
  t0: number,
  n: number,
  w: number,
): void {
  const g0 = g[t0];
  const g1 = n > 1 ? g[t0 + 1] : 0;
  const g2 = n > 2 ? g[t0 + 2] : 0;
  const g3 = n > 3 ? g[t0 + 3] : 0;
  const g4 = n > 4 ? g[t0 + 4] : 0;
  const g5 = n > 5 ? g[t0 + 5] : 0;
  const g6 = n > 6 ? g[t0 + 6] : 0;
  const g7 = n > 7 ? g[t0 + 7] : 0;
  const s1 = s + stride;
  const s2 = s1 + stride;
  const s3 = s2 + stride;
  const s4 = s3 + stride;
  const s5 = s4 + stride;
  const s6 = s5 + stride;
  const s7 = s6 + stride;
  switch (n) {
    case 8:
      for (let x = 0; x < w; x++) {
        acc[x] =
          acc[x] +
          g0 * v[s + x] +
          g1 * v[s1 + x] +
          g2 * v[s2 + x] +
          g3 * v[s3 + x] +
          g4 * v[s4 + x] +
          g5 * v[s5 + x] +
          g6 * v[s6 + x] +
          g7 * v[s7 + x];
      }
      break;
    case 7:
      for (let x = 0; x < w; x++) {
        acc[x] =
          acc[x] +
          g0 * v[s + x] +
          g1 * v[s1 + x] +
          g2 * v[s2 + x] +
          g3 * v[s3 + x] +
          g4 * v[s4 + x] +
          g5 * v[s5 + x] +
          g6 * v[s6 + x];
      }
      break;
    case 6:
      for (let x = 0; x < w; x++) {
        acc[x] =
          acc[x] + g0 * v[s + x] + g1 * v[s1 + x] + g2 * v[s2 + x] + g3 * v[s3 + x] + g4 * v[s4 + x] + g5 * v[s5 + x];
      }
      break;
    case 5:
      for (let x = 0; x < w; x++) {
        acc[x] = acc[x] + g0 * v[s + x] + g1 * v[s1 + x] + g2 * v[s2 + x] + g3 * v[s3 + x] + g4 * v[s4 + x];
      }
      break;
    case 4:
      for (let x = 0; x < w; x++) acc[x] = acc[x] + g0 * v[s + x] + g1 * v[s1 + x] + g2 * v[s2 + x] + g3 * v[s3 + x];
      break;
    case 3:
      for (let x = 0; x < w; x++) acc[x] = acc[x] + g0 * v[s + x] + g1 * v[s1 + x] + g2 * v[s2 + x];
      break;
    case 2:
      for (let x = 0; x < w; x++) acc[x] = acc[x] + g0 * v[s + x] + g1 * v[s1 + x];
      break;
    case 1:
      for (let x = 0; x < w; x++) acc[x] = acc[x] + g0 * v[s + x];
      break;
    default:
      throw new RangeError(`addTaps: 1..8 taps per call, got ${n}`);
  }
}
