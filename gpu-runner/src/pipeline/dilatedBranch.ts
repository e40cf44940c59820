/**
 * The global branch of an upscaling step: dilated sampling. The latent (top/left padded to multiples of s) is split
 * into s*s strided samples, each of the UNet's native size, so every model call sees the whole image. The model sees
 * the Gaussian-filtered samples (less aliasing), the scheduler steps the unfiltered ones; with window interaction
 * the samples of a batch exchange pixels through a per-element permutation before the model, undone after it.
 * Guidance uses guidance_scale and the main prompt with crop (0, 0), as in the reference.
 */
import type { HalfStage } from "../models/types";
import { cosineFactors } from "./cosine";
import { type JobContext, phaseTimeIds } from "./job";
import type { DilatedGrid, Renormalization } from "./kernels/dilated/js";
import { dilatedGaussianSigma, dilatedOffsets, dilatedPadding, padTopLeft } from "./kernels/dilated/reference";
import { gaussianScratch } from "./kernels/gaussian/wasm";
import { JS_STEP_KERNELS } from "./kernels/jsStepKernels";
import type { StepKernels } from "./kernels/stepKernels";
import type { WasmScratch } from "./kernels/wasmStepKernels";
import type { PhaseSpec } from "./phasePlan";
import { meanStd } from "./tensor/stats";
import { repeatTimeIds } from "./timeIds";

/**
 * The branch's per-phase buffers and the phase's kernel backend, which runs the element loops in WebAssembly on
 * buffers that are views of the phase memory.
 */
export interface DilatedBuffers {
  kernels: StepKernels;
  /** value_global [C, H, W]. */
  out: Float32Array;
  /** L when the latent needs top/left padding, and G: [C, PH, PW] (padded may be empty when nothing is padded). */
  padded: Float32Array;
  filtered: Float32Array;
  /** A batch's model input, its noise prediction (copied for the kernels) and its window-interaction index. */
  input: Float32Array;
  noise: Float32Array;
  shuffle: Int32Array;
  /** The random words of a batch's window interaction (see RandomSource.shuffleIndex). */
  words: Uint32Array;
  /** Half room for fp16 models (the phase memory's), given only with WebAssembly kernels. */
  halves?: HalfStage;
}

export function dilatedBufferSizes(
  ctx: JobContext,
  phase: PhaseSpec,
): Record<keyof Omit<DilatedBuffers, "kernels" | "halves"> | keyof WasmScratch, number> {
  const C = ctx.info.latentChannels;
  const s = phase.scale;
  const { hPad, wPad } = dilatedPadding(phase.latentHeight, phase.latentWidth, s);
  const n = C * (phase.latentHeight + hPad) * (phase.latentWidth + wPad);
  const vb = Math.min(ctx.params.viewBatchSize, s * s);
  const per = n / (s * s);
  return {
    out: C * phase.latentHeight * phase.latentWidth,
    padded: hPad > 0 || wPad > 0 ? n : 0,
    filtered: ctx.params.useGaussian ? n : 0,
    input: 2 * vb * per,
    noise: 2 * vb * per,
    shuffle: ctx.params.shuffle ? vb * per : 0,
    table: 2 * vb,
    words: ctx.params.shuffle ? (vb - 1) * per : 0,
    perm: vb,
    gauss: ctx.params.useGaussian ? 2 * gaussianScratch(2 * s - 1, phase.latentWidth + wPad) : 0,
  };
}

export class DilatedBranch {
  private readonly offsets: ReturnType<typeof dilatedOffsets>;
  private readonly buf: DilatedBuffers;
  private readonly timeIds = new Map<number, Float32Array>();

  /** `buffers` (sizes from dilatedBufferSizes, e.g. views of the phase memory); plain arrays when not given. */
  constructor(
    private readonly ctx: JobContext,
    private readonly phase: PhaseSpec,
    buffers?: DilatedBuffers,
  ) {
    this.offsets = dilatedOffsets(phase.scale);
    if (buffers) {
      this.buf = buffers;
    } else {
      const z = dilatedBufferSizes(ctx, phase);
      this.buf = {
        kernels: JS_STEP_KERNELS,
        out: new Float32Array(z.out),
        padded: new Float32Array(z.padded),
        filtered: new Float32Array(z.filtered),
        input: new Float32Array(z.input),
        noise: new Float32Array(0),
        shuffle: new Int32Array(z.shuffle),
        words: new Uint32Array(0),
      };
    }
  }

  /** Returns value_global cropped back to [C, H, W] (owned by the branch, overwritten next step). */
  async run(i: number, latents: Float32Array): Promise<Float32Array> {
    const { ctx, phase } = this;
    const { params, info, clock, caller } = ctx;
    const C = info.latentChannels;
    const H = phase.latentHeight;
    const W = phase.latentWidth;
    const s = phase.scale;
    const t = clock.timestep(i);
    const { hPad, wPad } = dilatedPadding(H, W, s);
    const grid: DilatedGrid = { planes: C, paddedH: H + hPad, paddedW: W + wPad, scale: s };
    const n = C * grid.paddedH * grid.paddedW;
    // L: the latent, zero-padded on the top/left to multiples of s (no copy when nothing is padded: L is only read).
    const { buf } = this;
    let padded = latents;
    if (hPad > 0 || wPad > 0) padded = padTopLeft(latents, C, H, W, hPad, wPad, buf.padded.subarray(0, n));
    // G: what the model sees, L blurred with kernel 2s-1 and renormalised to L's statistics (applied per element
    // as the model input is built).
    let g = padded;
    let renorm: Renormalization | null = null;
    if (params.useGaussian) {
      const { c3 } = cosineFactors(t, params.cosineScale1, params.cosineScale2, params.cosineScale3);
      const input = meanStd(padded);
      const sigma = dilatedGaussianSigma(params.sigma, c3);
      g = buf.kernels.gaussianFilter(
        padded,
        C,
        grid.paddedH,
        grid.paddedW,
        2 * s - 1,
        sigma,
        buf.filtered.subarray(0, n),
      );
      const blurred = meanStd(g);
      renorm = { mean: blurred.mean, std: blurred.std, targetMean: input.mean, targetStd: input.std };
    }
    const per = n / (s * s);
    const vbMax = params.viewBatchSize;
    // The noise prediction is copied into the phase memory when the WebAssembly kernels can then use it.
    const stageNoise = buf.kernels.addresses(padded, g, buf.noise);

    for (let j = 0, batchNo = 0; j < this.offsets.length; j += vbMax, batchNo++) {
      const batch = this.offsets.slice(j, j + vbMax);
      const vb = batch.length;
      let shuffle: Int32Array | null = null;
      if (params.shuffle) {
        const scratch = buf.words.length > 0 ? { kernels: buf.kernels, words: buf.words } : undefined;
        shuffle = ctx.random.shuffleIndex(phase.id, i, batchNo, vb, per, buf.shuffle.subarray(0, vb * per), scratch);
      }
      const modelIn = buf.input.subarray(0, 2 * vb * per);
      buf.kernels.dilatedModelInput(g, grid, batch, renorm, shuffle, clock.inputDivisor(i), modelIn);
      const c = await ctx.conditioning.batch(params.negativePrompt, this.repeatPrompt(vb));
      const out = await caller.unet({
        sample: { data: modelIn, shape: [2 * vb, C, grid.paddedH / s, grid.paddedW / s] },
        timestep: t,
        encoderHiddenStates: c.encoderHiddenStates,
        textEmbeds: c.textEmbeds,
        timeIds: { data: this.timeIdsFor(vb), shape: [2 * vb, 6] },
        attention: false, // only phase 1's maps are used
        noiseOut: stageNoise ? buf.noise : undefined,
        halfStage: stageNoise ? buf.halves : undefined,
        pairedRows: true, // dilatedModelInput writes each sample twice (CFG)
      });
      const { sigma, sigmaNext } = clock.stepSigmas(i, true);
      const step = { guidanceScale: params.guidanceScale, sigma, sigmaNext };
      let noise = out.noise.data;
      if (stageNoise) {
        // Models that honour noiseOut have written it there already.
        if (noise.buffer !== buf.noise.buffer || noise.byteOffset !== buf.noise.byteOffset)
          buf.noise.set(noise.subarray(0, 2 * vb * per));
        noise = buf.noise;
      }
      buf.kernels.scatterGuided(padded, grid, batch, noise, shuffle, step, hPad, wPad, buf.out);
    }
    return buf.out;
  }

  /** add_time_ids unchanged (crop 0, 0) for every offset: [2*vb, 6]. */
  private timeIdsFor(vb: number): Float32Array {
    let t = this.timeIds.get(vb);
    if (!t) {
      t = repeatTimeIds(phaseTimeIds(this.ctx, this.phase).subarray(0, 6), 2 * vb);
      this.timeIds.set(vb, t);
    }
    return t;
  }

  private readonly prompts: string[] = [];
  private repeatPrompt(vb: number): string[] {
    while (this.prompts.length < vb) this.prompts.push(this.ctx.params.prompt);
    return this.prompts.slice(0, vb);
  }
}
