/**
 * float32 <-> float16 for arrays outside a phase memory (the phase condition, the text conditioning, a call's sample
 * and noise where the caller has no half room): the WebAssembly SIMD kernels of pipeline/kernels/halfFloat/wasm.ts in
 * this module's own memory, ~10x the speed of the JS loops in halfFloat/js.ts, with the same bits.
 *
 * Data passes through a fixed 6 MiB scratch in the module's own memory (never grown, so no view is ever detached):
 * copy in, convert, copy out, a chunk at a time. Tails (n % 8) and runtimes without WebAssembly use halfFloat/js.ts.
 */
import {
  float32BitsToHalfBits,
  float32ToHalfBits,
  fromHalfArray,
  halfBitsToFloat32,
  toHalfArray,
} from "../../pipeline/kernels/halfFloat/js";
import { fromHalfKernel, type HalfFloatKernels, toHalfKernel } from "../../pipeline/kernels/halfFloat/wasm";
import { type WasmMemory, type WasmModule, wasm } from "../../pipeline/kernels/wasm/wasmApi";
import { encodeModule } from "../../pipeline/kernels/wasm/wasmEncoding";

/** Elements per chunk: 4 MiB of float32 next to 2 MiB of half bits. */
const CHUNK = 1 << 20;
const F32_AT = 0;
const U16_AT = 4 * CHUNK;

type CodecExports = HalfFloatKernels;

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

/** float32 -> half bits (round to nearest even), the same bits as halfFloat/js.ts's toHalfArray. */
export function toHalf(src: Float32Array, out?: Uint16Array): Uint16Array {
  const dst = out ?? new Uint16Array(src.length);
  if (dst.length !== src.length) throw new RangeError(`toHalf: out has ${dst.length} elements, src ${src.length}`);
  const c = halfCodec.enabled ? wasmCodec() : null;
  if (!c) return toHalfArray(src, dst);
  c.toHalf(src, dst);
  return dst;
}

/** half bits -> float32 (exact), the same values as halfFloat/js.ts's fromHalfArray. */
export function fromHalf(src: Uint16Array, out?: Float32Array): Float32Array {
  const dst = out ?? new Float32Array(src.length);
  if (dst.length !== src.length) throw new RangeError(`fromHalf: out has ${dst.length} elements, src ${src.length}`);
  const c = halfCodec.enabled ? wasmCodec() : null;
  if (!c) return fromHalfArray(src, dst);
  c.fromHalf(src, dst);
  return dst;
}
