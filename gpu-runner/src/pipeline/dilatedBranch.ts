/**
 * The global branch of an upscaling step: dilated sampling. The latent (top/left padded to multiples of s) is split
 * into s*s strided samples, each of the UNet's native size, so every model call sees the whole image. The model sees
 * the Gaussian-filtered samples (less aliasing), the scheduler steps the unfiltered ones; with window interaction
 * the samples of a batch exchange pixels through a per-element permutation before the model, undone after it.
 * Guidance uses guidance_scale and the main prompt with crop (0, 0), as in the reference.
 */
import { cosineFactors } from "./cosine";
import { dilatedGaussianSigma, dilatedOffsets, dilatedPadding, padTopLeft } from "./dilated";
import { type DilatedGrid, dilatedModelInput, type Renormalization, scatterGuided } from "./dilatedKernels";
import { type JobContext, phaseTimeIds } from "./job";
import type { PhaseSpec } from "./phasePlan";
import { gaussianScratch } from "./simd/gaussianWasm";
import type { PhaseMemory } from "./simd/phaseMemory";
import { gaussianFilter } from "./tensor/gaussian";
import { meanStd } from "./tensor/stats";
import { repeatTimeIds } from "./timeIds";

/** The branch's per-phase buffers; with `mem` (every array a view of it) the element loops run in WebAssembly. */
export interface DilatedBuffers {
  mem: PhaseMemory | null;
  /** value_global [C, H, W]. */
  out: Float32Array;
  /** L when the latent needs top/left padding, and G: [C, PH, PW] (padded may be empty when nothing is padded). */
  padded: Float32Array;
  filtered: Float32Array;
  /** A batch's model input, its noise prediction (copied for the kernels) and its window-interaction index. */
  input: Float32Array;
  noise: Float32Array;
  shuffle: Int32Array;
  /** The kernels' per-batch cell offsets (2 per sample). */
  table: Int32Array;
  /** The random words of a batch's window interaction and a permutation scratch (see RandomSource.shuffleIndex). */
  words: Uint32Array;
  perm: Int32Array;
  /** The Gaussian filter's float64 scratch (see GaussianWasm). */
  gauss: Float32Array;
}

export function dilatedBufferSizes(
  ctx: JobContext,
  phase: PhaseSpec,
): Record<keyof Omit<DilatedBuffers, "mem">, number> {
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
        mem: null,
        out: new Float32Array(z.out),
        padded: new Float32Array(z.padded),
        filtered: new Float32Array(z.filtered),
        input: new Float32Array(z.input),
        noise: new Float32Array(0),
        shuffle: new Int32Array(z.shuffle),
        table: new Int32Array(0),
        words: new Uint32Array(0),
        perm: new Int32Array(0),
        gauss: new Float32Array(0),
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
      const gw = buf.mem ? { mem: buf.mem, scratch: buf.gauss } : null;
      g = gaussianFilter(padded, C, grid.paddedH, grid.paddedW, 2 * s - 1, sigma, buf.filtered.subarray(0, n), gw);
      const blurred = meanStd(g);
      renorm = { mean: blurred.mean, std: blurred.std, targetMean: input.mean, targetStd: input.std };
    }
    const per = n / (s * s);
    const vbMax = params.viewBatchSize;
    // The WebAssembly kernels when the buffers are views of the phase memory (the noise prediction is copied there).
    const wasm = buf.mem?.kernels && buf.mem.holds(padded, g, buf.noise) ? { mem: buf.mem, table: buf.table } : null;

    for (let j = 0, batchNo = 0; j < this.offsets.length; j += vbMax, batchNo++) {
      const batch = this.offsets.slice(j, j + vbMax);
      const vb = batch.length;
      let shuffle: Int32Array | null = null;
      if (params.shuffle) {
        const scratch = buf.mem ? { mem: buf.mem, words: buf.words, perm: buf.perm } : undefined;
        shuffle = ctx.random.shuffleIndex(phase.id, i, batchNo, vb, per, buf.shuffle.subarray(0, vb * per), scratch);
      }
      const modelIn = buf.input.subarray(0, 2 * vb * per);
      dilatedModelInput(g, grid, batch, renorm, shuffle, clock.inputDivisor(i), modelIn, wasm);
      const c = await ctx.conditioning.batch(params.negativePrompt, this.repeatPrompt(vb));
      const out = await caller.unet({
        sample: { data: modelIn, shape: [2 * vb, C, grid.paddedH / s, grid.paddedW / s] },
        timestep: t,
        encoderHiddenStates: c.encoderHiddenStates,
        textEmbeds: c.textEmbeds,
        timeIds: { data: this.timeIdsFor(vb), shape: [2 * vb, 6] },
        attention: false, // only phase 1's maps are used
        noiseOut: wasm ? buf.noise : undefined,
      });
      const { sigma, sigmaNext } = clock.stepSigmas(i, true);
      const step = { guidanceScale: params.guidanceScale, sigma, sigmaNext };
      let noise = out.noise.data;
      if (wasm) {
        // Models that honour noiseOut have written it there already.
        if (noise.buffer !== buf.noise.buffer || noise.byteOffset !== buf.noise.byteOffset)
          buf.noise.set(noise.subarray(0, 2 * vb * per));
        noise = buf.noise;
      }
      scatterGuided(padded, grid, batch, noise, shuffle, step, hPad, wPad, buf.out, wasm);
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
