/**
 * The dilated branch's Gaussian filter (js.ts) in WebAssembly, two float64 lanes at a time: per
 * output row, the column pass adds the k source rows' taps into a float64 accumulator one tap after the other, the
 * sum is rounded to float32 into a zero-bordered float64 row, the row pass adds the k shifted row taps, and the
 * float32-rounded result is stored. The same float64 operations in the same order as the JS filter (each lane is one
 * element's sum), so the output is bit-identical (wasm.test.ts).
 *
 * Scratch (float64, byte address `scratch`): the k taps, then the accumulator (w), then the row (w + 2r, borders 0).
 */
import type { PhaseMemory } from "../wasm/phaseMemory";
import { type Code, F64, I32, type KernelFunction, op, V128 } from "../wasm/wasmEncoding";
import { checkFilterArgs, gaussianKernel1d } from "./js";

/** `for (i = from; i < end; i += step) body` over i32 locals (from is code leaving an i32). */
function forRange(i: number, from: readonly Code[], end: number, step: number, body: readonly Code[]): Code[] {
  return [
    ...from,
    op.set(i),
    op.block,
    op.loop,
    op.get(i),
    op.get(end),
    op.i32GeU,
    op.brIf(1),
    ...body,
    op.get(i),
    op.i32Const(step),
    op.i32Add,
    op.set(i),
    op.br(0),
    op.end,
    op.end,
  ];
}

function gaussian(): KernelFunction {
  // i32: src, dst (plane 0), planes, h, w, k, scratch.
  const [SRC, DST, PLANES, H, W, K, SCR] = [0, 1, 2, 3, 4, 5, 6];
  const [P, Y, I, I1, X, R, W2, PB, ACC, ROW, SROW, T, GS, GV] = [7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20];
  const accAt = (x: number): Code[] => [op.get(ACC), op.get(x), op.i32Const(3), op.i32Shl, op.i32Add];
  // acc[x] += g * v for x < w: pairs with f64x2, then the odd last element.
  const addTaps = (load2: readonly Code[], load1: readonly Code[]): Code[] => [
    ...forRange(X, [op.i32Const(0)], W2, 2, [
      ...accAt(X),
      ...accAt(X),
      op.v128Load,
      op.get(GV),
      ...load2,
      op.f64x2Mul,
      op.f64x2Add,
      op.v128Store,
    ]),
    ...forRange(X, [op.get(W2)], W, 1, [
      ...accAt(X),
      ...accAt(X),
      op.f64Load,
      op.get(GS),
      ...load1,
      op.f64Mul,
      op.f64Add,
      op.f64Store,
    ]),
  ];
  const tap = (index: number): Code[] => [
    op.get(SCR),
    op.get(index),
    op.i32Const(3),
    op.i32Shl,
    op.i32Add,
    op.f64Load,
    op.tee(GS),
    op.f64x2Splat,
    op.set(GV),
  ];
  const srcAt = (x: number): Code[] => [op.get(SROW), op.get(x), op.i32Const(2), op.i32Shl, op.i32Add];
  // row element x + j (the row buffer starts r elements before the data).
  const rowAt = (x: number, j: number): Code[] => [
    op.get(ROW),
    op.get(x),
    op.get(j),
    op.i32Add,
    op.i32Const(3),
    op.i32Shl,
    op.i32Add,
  ];
  const clearAcc: Code[] = [op.get(ACC), op.i32Const(0), op.get(W), op.i32Const(3), op.i32Shl, op.memoryFill];
  const perRow: Code[] = [
    ...clearAcc,
    // Column pass over source rows y + i - r, i in [max(0, r - y), min(k, h + r - y)).
    op.get(R),
    op.get(Y),
    op.i32Sub,
    op.tee(T),
    op.i32Const(0),
    op.get(T),
    op.i32Const(0),
    op.i32GtS,
    op.select,
    op.set(I),
    op.get(H),
    op.get(R),
    op.i32Add,
    op.get(Y),
    op.i32Sub,
    op.tee(T),
    op.get(K),
    op.get(T),
    op.get(K),
    op.i32LtS,
    op.select,
    op.set(I1),
    ...forRange(I, [op.get(I)], I1, 1, [
      ...tap(I),
      // srow = src + p*planeBytes + 4*w*(y + i - r)
      op.get(SRC),
      op.get(P),
      op.get(PB),
      op.i32Mul,
      op.i32Add,
      op.get(Y),
      op.get(I),
      op.i32Add,
      op.get(R),
      op.i32Sub,
      op.get(W),
      op.i32Mul,
      op.i32Const(2),
      op.i32Shl,
      op.i32Add,
      op.set(SROW),
      ...addTaps([...srcAt(X), op.v128Load64Zero, op.f64x2PromoteLow], [...srcAt(X), op.f32Load, op.f64PromoteF32]),
    ]),
    // The separable intermediate is a float32 tensor: row[r + x] = float32(acc[x]).
    ...forRange(X, [op.i32Const(0)], W, 1, [
      ...rowAt(X, R),
      ...accAt(X),
      op.f64Load,
      op.f32DemoteF64,
      op.f64PromoteF32,
      op.f64Store,
    ]),
    ...clearAcc,
    // Row pass: taps j = 0..k-1 over row[x + j].
    ...forRange(I, [op.i32Const(0)], K, 1, [
      ...tap(I),
      ...addTaps([...rowAt(X, I), op.v128Load], [...rowAt(X, I), op.f64Load]),
    ]),
    // dst[p, y, x] = float32(acc[x])
    ...forRange(X, [op.i32Const(0)], W, 1, [
      op.get(DST),
      op.get(P),
      op.get(PB),
      op.i32Mul,
      op.i32Add,
      op.get(Y),
      op.get(W),
      op.i32Mul,
      op.get(X),
      op.i32Add,
      op.i32Const(2),
      op.i32Shl,
      op.i32Add,
      ...accAt(X),
      op.f64Load,
      op.f32DemoteF64,
      op.f32Store,
    ]),
  ];
  return {
    name: "gaussian",
    params: [I32, I32, I32, I32, I32, I32, I32],
    locals: [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, F64, V128],
    body: [
      // r = k >> 1; pairs; plane bytes; scratch layout: taps (k), acc (w), row (w + 2r, zeroed).
      op.get(K),
      op.i32Const(1),
      op.i32ShrU,
      op.set(R),
      op.get(W),
      op.i32Const(-2),
      op.i32And,
      op.set(W2),
      op.get(H),
      op.get(W),
      op.i32Mul,
      op.i32Const(2),
      op.i32Shl,
      op.set(PB),
      op.get(SCR),
      op.get(K),
      op.i32Const(3),
      op.i32Shl,
      op.i32Add,
      op.tee(ACC),
      op.get(W),
      op.i32Const(3),
      op.i32Shl,
      op.i32Add,
      op.set(ROW),
      op.get(ROW),
      op.i32Const(0),
      op.get(W),
      op.get(R),
      op.i32Const(1),
      op.i32Shl,
      op.i32Add,
      op.i32Const(3),
      op.i32Shl,
      op.memoryFill,
      ...forRange(P, [op.i32Const(0)], PLANES, 1, forRange(Y, [op.i32Const(0)], H, 1, perRow)),
    ],
  };
}

export const GAUSSIAN_KERNELS: KernelFunction[] = [gaussian()];

/** Float64 scratch elements the kernel needs for kernel size k and row width w. */
export function gaussianScratch(k: number, w: number): number {
  return k + w + w + 2 * (k >> 1);
}

export interface GaussianKernels {
  gaussian(src: number, dst: number, planes: number, h: number, w: number, k: number, scratch: number): void;
}

/**
 * js.ts `gaussianFilter` in WebAssembly, or null when src, out and `scratch` (a float32 region of at least
 * 2 * gaussianScratch(k, w) elements, used as float64s, 8-byte aligned) are not views of `mem`. Same values
 * (wasm.test.ts).
 */
export function gaussianFilterWasm(
  kernels: GaussianKernels,
  mem: PhaseMemory,
  scratch: Float32Array,
  src: Float32Array,
  planes: number,
  h: number,
  w: number,
  k: number,
  sigma: number,
  out?: Float32Array,
): Float32Array | null {
  const dst = checkFilterArgs(src, planes, h, w, out);
  if (scratch.length < 2 * gaussianScratch(k, w) || !mem.holds(src, dst, scratch)) return null;
  // The taps go first in the kernel's float64 scratch.
  new Float64Array(scratch.buffer, scratch.byteOffset, k).set(gaussianKernel1d(k, sigma));
  kernels.gaussian(src.byteOffset, dst.byteOffset, planes, h, w, k, scratch.byteOffset);
  return dst;
}
