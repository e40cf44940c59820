/**
 * float32 <-> float16 for whole tensors in WebAssembly SIMD, eight elements at a time, with js.ts's bits:
 *
 *   toHalf    round to nearest, ties to even; overflow to Inf; every NaN to the quiet NaN 0x7e00 with its sign (as
 *             js.ts). The arithmetic of Maratyszcza's FP16 `fp16_ieee_from_fp32_value`: two float32 multiplies by
 *             powers of two let the FPU round the mantissa (exact in IEEE float32, which f32x4 is: ties to even,
 *             subnormals kept, no fused multiply-add), then the exponent is re-biased with integer ops.
 *   fromHalf  exact: (h & 0x7fff) << 13 as float32 bits is the half's value times 2^-112 (subnormals included), one
 *             exact multiply by 2^112 rescales it; exponent 31 (Inf/NaN) is set apart.
 *
 * The kernels are part of two modules: the phase memory's (toHalfWasm / fromHalfWasm below: a phase converts its
 * model input and the noise prediction where they lie, with no copy) and models/onnx/halfCodec.ts's codec, which
 * has its own memory for arrays that live elsewhere. Tails (n % 8) use js.ts. Tests: wasm.test.ts.
 */
import type { PhaseMemory } from "../wasm/phaseMemory";
import { type Code, countLoop, I32, type KernelFunction, op, uleb, V128 } from "../wasm/wasmEncoding";
import { float32BitsToHalfBits, halfBitsToFloat32 } from "./js";

const simd = (code: number): number[] => [0xfd, ...uleb(code)];
const I = {
  splat: simd(0x11),
  and: simd(0x4e),
  or: simd(0x50),
  bitselect: simd(0x52),
  gtU: simd(0x3c),
  geU: simd(0x40),
  narrowU: simd(0x86),
  extendLowU: simd(0xa9),
  extendHighU: simd(0xaa),
  shl: simd(0xab),
  shrU: simd(0xad),
  add: simd(0xae),
  maxU: simd(0xb9),
  f32Abs: simd(0xe0),
  f32Mul: simd(0xe6),
  f32Add: simd(0xe4),
};

/** A v128 constant with `n` in every i32 lane. */
const i32x4 = (n: number): Code[] => [op.i32Const(n | 0), I.splat];
/** A v128 constant with the float32 bits of `x` in every lane. */
const f32x4Bits = (x: number): Code[] => {
  const b = new Uint32Array(Float32Array.of(x).buffer)[0];
  return i32x4(b);
};

/** Half bits (in i32 lanes) of the four float32 lanes in local `x`; uses locals shl1, base. */
function halfLanes(x: number, shl1: number, base: number): Code[] {
  return [
    // shl1 = w + w (the sign shifted out)
    op.get(x),
    op.get(x),
    I.add,
    op.set(shl1),
    // base = (|f| * 2^112) * 2^-110
    op.get(x),
    I.f32Abs,
    ...f32x4Bits(2 ** 112),
    I.f32Mul,
    ...f32x4Bits(2 ** -110),
    I.f32Mul,
    op.set(base),
    // bias = max_u(shl1 & 0xff000000, 0x71000000); base = bits((bias >> 1) + 0x07800000) + base
    op.get(shl1),
    ...i32x4(0xff000000),
    I.and,
    ...i32x4(0x71000000),
    I.maxU,
    op.i32Const(1),
    I.shrU,
    ...i32x4(0x07800000),
    I.add,
    op.get(base),
    I.f32Add,
    op.set(base),
    // nonsign = ((bits >> 13) & 0x7c00) + (bits & 0x0fff); NaN (shl1 > 0xff000000) -> 0x7e00
    ...i32x4(0x7e00),
    op.get(base),
    op.i32Const(13),
    I.shrU,
    ...i32x4(0x7c00),
    I.and,
    op.get(base),
    ...i32x4(0x0fff),
    I.and,
    I.add,
    op.get(shl1),
    ...i32x4(0xff000000),
    I.gtU,
    I.bitselect,
    // | sign >> 16
    op.get(x),
    ...i32x4(0x80000000),
    I.and,
    op.i32Const(16),
    I.shrU,
    I.or,
  ];
}

export function toHalfKernel(): KernelFunction {
  // Params: src (f32 bytes), dst (u16 bytes), blocks of 8. Locals: k, a, b, shl1, base.
  const [SRC, DST, N, K, A, B, SHL1, BASE] = [0, 1, 2, 3, 4, 5, 6, 7];
  return {
    name: "toHalf",
    params: [I32, I32, I32],
    locals: [I32, V128, V128, V128, V128],
    body: countLoop(K, N, [
      // dst + 16k (store address)
      op.get(DST),
      op.get(K),
      op.i32Const(16),
      op.i32Mul,
      op.i32Add,
      // lanes 0..3
      op.get(SRC),
      op.get(K),
      op.i32Const(32),
      op.i32Mul,
      op.i32Add,
      op.v128Load,
      op.set(A),
      ...halfLanes(A, SHL1, BASE),
      // lanes 4..7
      op.get(SRC),
      op.get(K),
      op.i32Const(32),
      op.i32Mul,
      op.i32Add,
      op.i32Const(16),
      op.i32Add,
      op.v128Load,
      op.set(B),
      ...halfLanes(B, SHL1, BASE),
      I.narrowU,
      op.v128Store,
    ]),
  };
}

/** float32 bits of the four half values (u16 in i32 lanes) in local `h`; uses local em. */
function floatLanes(h: number, em: number): Code[] {
  return [
    op.get(h),
    ...i32x4(0x7fff),
    I.and,
    op.set(em),
    // Inf/NaN: (em << 13) | 0x7f800000; otherwise bits((em << 13)) * 2^112
    op.get(em),
    op.i32Const(13),
    I.shl,
    ...i32x4(0x7f800000),
    I.or,
    op.get(em),
    op.i32Const(13),
    I.shl,
    ...f32x4Bits(2 ** 112),
    I.f32Mul,
    op.get(em),
    ...i32x4(0x7c00),
    I.geU,
    I.bitselect,
    // | (h & 0x8000) << 16
    op.get(h),
    ...i32x4(0x8000),
    I.and,
    op.i32Const(16),
    I.shl,
    I.or,
  ];
}

export function fromHalfKernel(): KernelFunction {
  // Params: src (u16 bytes), dst (f32 bytes), blocks of 8. Locals: k, v, h, em.
  const [SRC, DST, N, K, VV, H, EM] = [0, 1, 2, 3, 4, 5, 6];
  const dst = (extra: number): Code[] => [
    op.get(DST),
    op.get(K),
    op.i32Const(32),
    op.i32Mul,
    op.i32Add,
    ...(extra ? [op.i32Const(extra), op.i32Add] : []),
  ];
  return {
    name: "fromHalf",
    params: [I32, I32, I32],
    locals: [I32, V128, V128, V128],
    body: countLoop(K, N, [
      op.get(SRC),
      op.get(K),
      op.i32Const(16),
      op.i32Mul,
      op.i32Add,
      op.v128Load,
      op.set(VV),
      ...dst(0),
      op.get(VV),
      I.extendLowU,
      op.set(H),
      ...floatLanes(H, EM),
      op.v128Store,
      ...dst(16),
      op.get(VV),
      I.extendHighU,
      op.set(H),
      ...floatLanes(H, EM),
      op.v128Store,
    ]),
  };
}

export const HALF_FLOAT_WASM: KernelFunction[] = [toHalfKernel(), fromHalfKernel()];

/** The exported functions: addresses in bytes, `blocks` of 8 elements. */
export interface HalfFloatKernels {
  toHalf(src: number, dst: number, blocks: number): void;
  fromHalf(src: number, dst: number, blocks: number): void;
}

/** js.ts toHalfArray(src, dst) in the phase memory, or false when `src` and `dst` are not views of `mem`. */
export function toHalfWasm(k: HalfFloatKernels, mem: PhaseMemory, src: Float32Array, dst: Uint16Array): boolean {
  if (dst.length !== src.length) throw new RangeError(`toHalf: dst has ${dst.length} elements, src ${src.length}`);
  if (!mem.holds(src, dst) || src.byteOffset % 4 !== 0 || dst.byteOffset % 2 !== 0) return false;
  const n = src.length;
  const blocks = n >>> 3;
  k.toHalf(src.byteOffset, dst.byteOffset, blocks);
  if (8 * blocks < n) {
    const bits = new Uint32Array(src.buffer, src.byteOffset, n);
    for (let i = 8 * blocks; i < n; i++) dst[i] = float32BitsToHalfBits(bits[i]);
  }
  return true;
}

/** js.ts fromHalfArray(src, dst) in the phase memory, or false when `src` and `dst` are not views of `mem`. */
export function fromHalfWasm(k: HalfFloatKernels, mem: PhaseMemory, src: Uint16Array, dst: Float32Array): boolean {
  if (dst.length !== src.length) throw new RangeError(`fromHalf: dst has ${dst.length} elements, src ${src.length}`);
  if (!mem.holds(src, dst)) return false;
  const n = src.length;
  const blocks = n >>> 3;
  k.fromHalf(src.byteOffset, dst.byteOffset, blocks);
  for (let i = 8 * blocks; i < n; i++) dst[i] = halfBitsToFloat32(src[i]);
  return true;
}
