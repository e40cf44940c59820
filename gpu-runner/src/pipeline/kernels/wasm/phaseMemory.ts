/**
 * The memory an upscaling phase works in: its latent, noised upsample, branch sums and batch buffers as Float32Array
 * views of one WebAssembly memory, so that the WebAssembly kernels (../<kernel>/wasm.ts) read and write them in
 * place. Every JS function keeps working on the views (they are ordinary Float32Arrays); a kernel is used where all
 * the arrays it touches are views of this memory (`holds`). Without WebAssembly the buffers are plain arrays and the
 * JS kernels run. ../stepKernels.ts picks the backend once per phase from this memory.
 *
 * One memory per phase: `allocate` is called once, and nothing grows it afterwards (growing would detach the views).
 * Results that outlive the phase must be copied out of it.
 */

import { DILATED_KERNELS, type DilatedKernels } from "../dilated/wasm";
import { GAUSSIAN_KERNELS, type GaussianKernels } from "../gaussian/wasm";
import { HALF_FLOAT_WASM, type HalfFloatKernels } from "../halfFloat/wasm";
import { MULTIDIFFUSION_WASM, type MultiDiffusionWasmExports } from "../multiDiffusion/wasm";
import { SHUFFLE_KERNELS, type ShuffleKernels } from "../shuffle/wasm";
import { STEP_FUSION_WASM, type StepFusionWasmExports } from "../stepFusion/wasm";
import { type WasmMemory, type WasmModule, wasm } from "./wasmApi";
import { encodeModule } from "./wasmEncoding";

const PAGE = 65536;

/** Every kernel the module exports (each kernel's wasm.ts declares its own). */
export type WasmExports = MultiDiffusionWasmExports &
  StepFusionWasmExports &
  DilatedKernels &
  ShuffleKernels &
  GaussianKernels &
  HalfFloatKernels;

let compiled: WasmModule | null | undefined;

/** The compiled kernel module, or null where WebAssembly SIMD is unavailable. */
function kernelModule(): WasmModule | null {
  if (compiled === undefined) {
    try {
      compiled = wasm
        ? new wasm.Module(
            encodeModule([
              ...MULTIDIFFUSION_WASM,
              ...STEP_FUSION_WASM,
              ...DILATED_KERNELS,
              ...SHUFFLE_KERNELS,
              ...GAUSSIAN_KERNELS,
              ...HALF_FLOAT_WASM,
            ]),
          )
        : null;
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

export class PhaseMemory {
  private memory: WasmMemory | null = null;
  private allocated = false;
  /** The WebAssembly kernels over this memory, or null (use the JS functions). */
  kernels: WasmExports | null = null;

  /** Whether new phase memories use WebAssembly (tests turn it off to run the JS paths end to end). */
  static wasmEnabled = true;

  /** `useWasm: false` gives plain arrays and the JS kernels. */
  constructor(useWasm = PhaseMemory.wasmEnabled) {
    const module = useWasm ? kernelModule() : null;
    if (!module || !wasm) return;
    try {
      // A WebAssembly memory reserves address space up front; where that is refused, the JS paths run.
      this.memory = new wasm.Memory({ initial: 1 });
      const instance = new wasm.Instance(module, { env: { memory: this.memory } });
      this.kernels = instance.exports as unknown as WasmExports;
    } catch {
      this.memory = null;
    }
  }

  /** Float32 views of the given lengths (16-byte aligned), zero-filled; once per memory. */
  allocate<K extends string>(sizes: Record<K, number>): Record<K, Float32Array> {
    const names = Object.keys(sizes) as K[];
    const out = {} as Record<K, Float32Array>;
    if (this.allocated) throw new Error("PhaseMemory.allocate: already allocated (growing would detach the views)");
    this.allocated = true;
    const align = (n: number) => Math.ceil(n / 4) * 4; // floats, so that every region starts on 16 bytes
    const total = names.reduce((a, k) => a + align(sizes[k]), 0);
    const bytes = 4 * total;
    if (this.memory && bytes > PAGE) {
      try {
        this.memory.grow(Math.ceil((bytes - PAGE) / PAGE));
      } catch {
        this.memory = null; // out of memory for one block: plain arrays and the JS paths
        this.kernels = null;
      }
    }
    if (!this.memory) {
      for (const k of names) out[k] = new Float32Array(sizes[k]);
      return out;
    }
    let at = 0;
    for (const k of names) {
      out[k] = new Float32Array(this.memory.buffer, 4 * at, sizes[k]);
      at += align(sizes[k]);
    }
    return out;
  }

  /** Whether every array is a view of this memory (so a kernel can address it). */
  holds(...arrays: ArrayBufferView[]): boolean {
    const buf = this.memory?.buffer;
    if (!buf) return false;
    for (const a of arrays) if (a.buffer !== buf) return false;
    return true;
  }
}

/** An int32 view of the same bytes (for index tables allocated as a float32 region). */
export function int32View(region: Float32Array): Int32Array {
  return new Int32Array(region.buffer, region.byteOffset, region.length);
}

/** A uint16 view of the same bytes, twice as many elements (for half-precision room allocated as float32). */
export function uint16View(region: Float32Array): Uint16Array {
  return new Uint16Array(region.buffer, region.byteOffset, 2 * region.length);
}

/** A uint32 view of the same bytes (for random words allocated as a float32 region). */
export function uint32View(region: Float32Array): Uint32Array {
  return new Uint32Array(region.buffer, region.byteOffset, region.length);
}
