/**
 * float32 <-> float16 for whole tensors in WebAssembly SIMD, eight elements at a time: the conversions an fp16 bundle
 * needs per call (sample in, noise out) at ~10x the speed of the JS loops in fp16.ts, with the same bits.
 *
 *   toHalf    round to nearest, ties to even; overflow to Inf; every NaN to the quiet NaN 0x7e00 with its sign (as
 *             fp16.ts). The arithmetic of Maratyszcza's FP16 `fp16_ieee_from_fp32_value`: two float32 multiplies by
 *             powers of two let the FPU round the mantissa (exact in IEEE float32, which f32x4 is: ties to even,
 *             subnormals kept, no fused multiply-add), then the exponent is re-biased with integer ops.
 *   fromHalf  exact: (h & 0x7fff) << 13 as float32 bits is the half's value times 2^-112 (subnormals included), one
 *             exact multiply by 2^112 rescales it; exponent 31 (Inf/NaN) is set apart.
 *
 * Data passes through a fixed 6 MiB scratch in the module's own memory (never grown, so no view is ever detached):
 * copy in, convert, copy out, a chunk at a time. Tails (n % 8) and runtimes without WebAssembly use fp16.ts.
 */
import { type WasmMemory, type WasmModule, wasm } from "../../pipeline/simd/wasmApi";
import { type Code, encodeModule, I32, type KernelFunction, op, uleb, V128 } from "../../pipeline/simd/wasmEncoding";
import { float32BitsToHalfBits, float32ToHalfBits, fromHalfArray, halfBitsToFloat32, toHalfArray } from "./fp16";

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

/** `for (k = 0; k < n; k++) body` with k a local (i32). */
function countLoop(k: number, n: number, body: readonly Code[]): Code[] {
  return [
    op.i32Const(0),
    op.set(k),
    op.block,
    op.loop,
    op.get(k),
    op.get(n),
    op.i32GeU,
    op.brIf(1),
    ...body,
    op.get(k),
    op.i32Const(1),
    op.i32Add,
    op.set(k),
    op.br(0),
    op.end,
    op.end,
  ];
}

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

function toHalfKernel(): KernelFunction {
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

function fromHalfKernel(): KernelFunction {
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

/** Elements per chunk: 4 MiB of float32 next to 2 MiB of half bits. */
const CHUNK = 1 << 20;
const F32_AT = 0;
const U16_AT = 4 * CHUNK;

interface CodecExports {
  toHalf(src: number, dst: number, blocks: number): void;
  fromHalf(src: number, dst: number, blocks: number): void;
}

class WasmHalfCodec {
  private readonly f32: Float32Array;
  private readonly u16: Uint16Array;

  constructor(
    private readonly fns: CodecExports,
    buffer: ArrayBuffer,
  ) {
    this.f32 = new Float32Array(buffer, F32_AT, CHUNK);
    this.u16 = new Uint16Array(buffer, U16_AT, CHUNK);
  }

  toHalf(src: Float32Array, dst: Uint16Array): void {
    for (let at = 0; at < src.length; at += CHUNK) {
      const n = Math.min(CHUNK, src.length - at);
      const blocks = n >>> 3;
      this.f32.set(src.subarray(at, at + 8 * blocks));
      this.fns.toHalf(F32_AT, U16_AT, blocks);
      dst.set(this.u16.subarray(0, 8 * blocks), at);
      const bits = new Uint32Array(src.buffer, src.byteOffset + 4 * at, n);
      for (let i = 8 * blocks; i < n; i++) dst[at + i] = float32BitsToHalfBits(bits[i]);
    }
  }

  fromHalf(src: Uint16Array, dst: Float32Array): void {
    for (let at = 0; at < src.length; at += CHUNK) {
      const n = Math.min(CHUNK, src.length - at);
      const blocks = n >>> 3;
      this.u16.set(src.subarray(at, at + 8 * blocks));
      this.fns.fromHalf(U16_AT, F32_AT, blocks);
      dst.set(this.f32.subarray(0, 8 * blocks), at);
      for (let i = 8 * blocks; i < n; i++) dst[at + i] = halfBitsToFloat32(src[at + i]);
    }
  }
}

let compiled: WasmModule | null | undefined;

function codecModule(): WasmModule | null {
  if (compiled !== undefined) return compiled;
  compiled = null;
  if (wasm) {
    try {
      compiled = new wasm.Module(encodeModule([toHalfKernel(), fromHalfKernel()]));
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

function instantiate(pages: number): { fns: CodecExports; memory: WasmMemory } | null {
  const module = codecModule();
  if (!module || !wasm) return null;
  try {
    const memory = new wasm.Memory({ initial: pages });
    const instance = new wasm.Instance(module, { env: { memory } });
    return { fns: instance.exports as unknown as CodecExports, memory };
  } catch {
    return null;
  }
}

let codec: WasmHalfCodec | null | undefined;

function wasmCodec(): WasmHalfCodec | null {
  if (codec !== undefined) return codec;
  const made = instantiate((6 * CHUNK) / 65536);
  codec = made ? new WasmHalfCodec(made.fns, made.memory.buffer) : null;
  return codec;
}

/**
 * A call's half-precision tensor in WebAssembly memory, converted in place: a model input (the sample, copied in and
 * narrowed there, then fed to onnxruntime as a view of that memory) or a model output (onnxruntime writes into the
 * view, the kernel widens it, one copy out). Saves the JS-side array and a copy each way. One tensor at a time per
 * scratch: `acquire` returns null while it is in use (callers then take the chunked path), and growing happens only
 * while nothing is held, so no live view is ever detached.
 */
export class HalfScratch {
  private made: { fns: CodecExports; memory: WasmMemory } | null | undefined;
  private busy = false;
  private halves = new Uint16Array(0);
  private floats = new Float32Array(0);

  /** `n` halves and `n` floats next to them, or null (in use, or no WebAssembly). */
  acquire(n: number): { halves: Uint16Array; floats: Float32Array } | null {
    if (this.busy || !halfCodec.enabled) return null;
    if (this.made === undefined) this.made = instantiate(1);
    if (!this.made) return null;
    const bytes = 6 * n + 16;
    const { memory } = this.made;
    if (memory.buffer.byteLength < bytes) {
      try {
        memory.grow(Math.ceil((bytes - memory.buffer.byteLength) / 65536));
      } catch {
        return null;
      }
    }
    if (this.floats.length < n || this.floats.buffer !== memory.buffer) {
      const cap = Math.floor((memory.buffer.byteLength - 16) / 24) * 4; // keeps both regions 16-byte aligned
      this.floats = new Float32Array(memory.buffer, 0, cap);
      this.halves = new Uint16Array(memory.buffer, 4 * cap, cap);
    }
    this.busy = true;
    return { halves: this.halves.subarray(0, n), floats: this.floats.subarray(0, n) };
  }

  release(): void {
    this.busy = false;
  }

  /** floats[0, n) -> halves[0, n) in place (after `acquire(n)`). */
  narrow(n: number): void {
    this.run(n, true);
  }

  /** halves[0, n) -> floats[0, n) in place (after `acquire(n)`). */
  widen(n: number): void {
    this.run(n, false);
  }

  private run(n: number, narrow: boolean): void {
    const fns = this.made!.fns;
    const blocks = n >>> 3;
    const f = this.floats.byteOffset;
    const h = this.halves.byteOffset;
    if (narrow) fns.toHalf(f, h, blocks);
    else fns.fromHalf(h, f, blocks);
    for (let i = 8 * blocks; i < n; i++) {
      if (narrow) this.halves[i] = float32ToHalfBits(this.floats[i]);
      else this.floats[i] = halfBitsToFloat32(this.halves[i]);
    }
  }
}

/** Whether conversions run in WebAssembly (tests compare both ways). */
export const halfCodec = {
  enabled: true,
  get wasm(): boolean {
    return this.enabled && wasmCodec() !== null;
  },
};

/** float32 -> half bits (round to nearest even), the same bits as fp16.ts's toHalfArray. */
export function toHalf(src: Float32Array, out?: Uint16Array): Uint16Array {
  const dst = out ?? new Uint16Array(src.length);
  if (dst.length !== src.length) throw new RangeError(`toHalf: out has ${dst.length} elements, src ${src.length}`);
  const c = halfCodec.enabled ? wasmCodec() : null;
  if (!c) return toHalfArray(src, dst);
  c.toHalf(src, dst);
  return dst;
}

/** half bits -> float32 (exact), the same values as fp16.ts's fromHalfArray. */
export function fromHalf(src: Uint16Array, out?: Float32Array): Float32Array {
  const dst = out ?? new Float32Array(src.length);
  if (dst.length !== src.length) throw new RangeError(`fromHalf: out has ${dst.length} elements, src ${src.length}`);
  const c = halfCodec.enabled ? wasmCodec() : null;
  if (!c) return fromHalfArray(src, dst);
  c.fromHalf(src, dst);
  return dst;
}
