/**
 * The per-step element kernels of an upscaling phase behind one interface, with two backends: plain JavaScript
 * (`JS_STEP_KERNELS`) and WebAssembly over the phase memory (`wasmStepKernels`). The backend is chosen once per phase
 * (`stepKernelsFor`); the branches and the step loop only call these methods and never ask which backend runs.
 *
 * Each kernel has one home, `kernels/<kernel>/`: `reference.ts` (the reference's op-by-op functions, where it has
 * them), `js.ts` (the fused JavaScript form, which names the reference functions it equals), `wasm.ts` (the
 * WebAssembly code and its wrapper, equal to js.ts bit for bit) and the tests that prove both equalities.
 */
import type { DilatedGrid, Renormalization } from "./dilated/js";
import type { DilatedOffset } from "./dilated/reference";
import type { GuidedStep, JitterFrame, LocalSums } from "./multiDiffusion/js";
import type { ViewBox } from "./multiDiffusion/viewBox";
import type { NoisedUpsample } from "./stepFusion/js";

export interface StepKernels {
  readonly backend: "js" | "wasm";
  /**
   * Whether the WebAssembly kernels can address every array (views of the phase memory): a caller then copies a model
   * output into such a buffer first, which pays for itself. Always false for the JS backend.
   */
  addresses(...arrays: ArrayBufferView[]): boolean;
  /** multiDiffusion/js.ts viewModelInput. */
  viewModelInput(frame: JitterFrame, views: readonly ViewBox[], divisor: number, out: Float32Array): VhVw;
  /** multiDiffusion/js.ts accumulateGuided. */
  accumulateGuided(
    frame: JitterFrame,
    views: readonly ViewBox[],
    noise: Float32Array,
    step: GuidedStep,
    sums: LocalSums,
    countViews: boolean,
  ): void;
  /** stepFusion/js.ts skipResidualNoised. */
  skipResidualNoised(latents: Float32Array, target: NoisedUpsample, c1: number): void;
  /** stepFusion/js.ts fuseBranches. */
  fuseBranches(
    local: LocalSums | null,
    fallback: NoisedUpsample,
    global: Float32Array | null,
    c2: number,
    planes: number,
    plane: number,
    out: Float32Array,
    scratch?: Float64Array,
  ): number;
  /** dilated/js.ts dilatedModelInput. */
  dilatedModelInput(
    g: Float32Array,
    grid: DilatedGrid,
    offsets: readonly DilatedOffset[],
    renorm: Renormalization | null,
    shuffle: Int32Array | null,
    divisor: number,
    out: Float32Array,
  ): void;
  /** dilated/js.ts scatterGuided. */
  scatterGuided(
    padded: Float32Array,
    grid: DilatedGrid,
    offsets: readonly DilatedOffset[],
    noise: Float32Array,
    shuffle: Int32Array | null,
    step: GuidedStep,
    hPad: number,
    wPad: number,
    out: Float32Array,
  ): void;
  /** gaussian/js.ts gaussianFilter. */
  gaussianFilter(
    src: Float32Array,
    planes: number,
    h: number,
    w: number,
    k: number,
    sigma: number,
    out?: Float32Array,
  ): Float32Array;
  /** halfFloat/js.ts toHalfArray: float32 -> half bits, round to nearest even (`dst` as long as `src`). */
  toHalf(src: Float32Array, dst: Uint16Array): void;
  /** halfFloat/js.ts fromHalfArray: half bits -> float32, exact (`dst` as long as `src`). */
  fromHalf(src: Uint16Array, dst: Float32Array): void;
  /** shuffle/js.ts shuffleIndexFromWords: window-interaction permutations from pre-drawn words. */
  shuffleFromWords(B: number, n: number, words: Uint32Array, out: Int32Array): Int32Array;
}

type VhVw = { vh: number; vw: number };
