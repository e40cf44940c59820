/**
 * The WebAssembly backend of StepKernels over one phase memory. Each method runs its kernel when every array is a
 * view of the memory (what the phase allocates) and the JS form otherwise, with the same values either way.
 */
import { dilatedModelInputWasm, scatterGuidedWasm } from "./dilated/wasm";
import { gaussianFilterWasm } from "./gaussian/wasm";
import { fromHalfWasm, toHalfWasm } from "./halfFloat/wasm";
import { JS_STEP_KERNELS as js } from "./jsStepKernels";
import { accumulateGuidedWasm, viewModelInputWasm } from "./multiDiffusion/wasm";
import { shuffleFromWordsWasm } from "./shuffle/wasm";
import { coveredJs, fuseBranches } from "./stepFusion/js";
import { coveredWasm, skipResidualNoisedWasm } from "./stepFusion/wasm";
import type { StepKernels } from "./stepKernels";
import type { PhaseMemory, WasmExports } from "./wasm/phaseMemory";

/** Scratch regions of the phase memory that some kernels need (sizes: see dilatedBufferSizes). */
export interface WasmScratch {
  /** The dilated kernels' cell offsets: 2 entries per sample of a batch. */
  table: Int32Array;
  /** The Gaussian filter's float64 scratch: 2 * gaussianScratch(k, w) float32 elements. */
  gauss: Float32Array;
  /** The shuffle kernel's permutation: one entry per sample of a batch. */
  perm: Int32Array;
}

/** `scratch` regions left out make their kernels run in JS (tests give only what they exercise). */
export function wasmStepKernels(k: WasmExports, mem: PhaseMemory, scratch: Partial<WasmScratch> = {}): StepKernels {
  const { table = new Int32Array(0), gauss = new Float32Array(0), perm = new Int32Array(0) } = scratch;
  return Object.freeze({
    backend: "wasm",
    addresses: (...arrays) => mem.holds(...arrays),
    viewModelInput: (frame, views, divisor, out) =>
      viewModelInputWasm(k, mem, frame, views, divisor, out) ?? js.viewModelInput(frame, views, divisor, out),
    accumulateGuided(frame, views, noise, step, sums, countViews) {
      if (!accumulateGuidedWasm(k, mem, frame, views, noise, step, sums, countViews)) {
        js.accumulateGuided(frame, views, noise, step, sums, countViews);
      }
    },
    skipResidualNoised(latents, target, c1) {
      if (!skipResidualNoisedWasm(k, mem, latents, target, c1)) js.skipResidualNoised(latents, target, c1);
    },
    fuseBranches: (local, fallback, global, c2, planes, plane, out, scratch) =>
      fuseBranches(
        local,
        fallback,
        global,
        c2,
        planes,
        plane,
        out,
        scratch,
        (input) => coveredWasm(k, mem, input) ?? coveredJs(input),
      ),
    dilatedModelInput(g, grid, offsets, renorm, shuffle, divisor, out) {
      if (!dilatedModelInputWasm(k, mem, table, g, grid, offsets, renorm, shuffle, divisor, out)) {
        js.dilatedModelInput(g, grid, offsets, renorm, shuffle, divisor, out);
      }
    },
    scatterGuided(padded, grid, offsets, noise, shuffle, step, hPad, wPad, out) {
      if (!scatterGuidedWasm(k, mem, table, padded, grid, offsets, noise, shuffle, step, hPad, wPad, out)) {
        js.scatterGuided(padded, grid, offsets, noise, shuffle, step, hPad, wPad, out);
      }
    },
    gaussianFilter: (src, planes, h, w, kk, sigma, out) =>
      gaussianFilterWasm(k, mem, gauss, src, planes, h, w, kk, sigma, out) ??
      js.gaussianFilter(src, planes, h, w, kk, sigma, out),
    toHalf(src, dst) {
      if (!toHalfWasm(k, mem, src, dst)) js.toHalf(src, dst);
    },
    fromHalf(src, dst) {
      if (!fromHalfWasm(k, mem, src, dst)) js.fromHalf(src, dst);
    },
    shuffleFromWords: (B, n, words, out) =>
      shuffleFromWordsWasm(k, mem, perm, B, n, words, out) ?? js.shuffleFromWords(B, n, words, out),
  } satisfies StepKernels);
}

/** The phase's backend, chosen once after its memory is allocated: WebAssembly when the memory has kernels. */
export function stepKernelsFor(mem: PhaseMemory, scratch: WasmScratch): StepKernels {
  return mem.kernels ? wasmStepKernels(mem.kernels, mem, scratch) : js;
}
