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
import { ensure } from "./sampling";
import { gaussianFilter } from "./tensor/gaussian";
import { meanStd } from "./tensor/stats";
import { repeatTimeIds } from "./timeIds";

export class DilatedBranch {
  private readonly offsets: ReturnType<typeof dilatedOffsets>;
  private readonly out: Float32Array;
  private padded?: Float32Array;
  private filtered?: Float32Array;
  private modelIn?: Float32Array;
  private shuffleIdx?: Int32Array;
  private readonly timeIds = new Map<number, Float32Array>();

  /** `out` ([C, H, W], e.g. a view of the phase memory) receives value_global at every step. */
  constructor(
    private readonly ctx: JobContext,
    private readonly phase: PhaseSpec,
    out?: Float32Array,
  ) {
    this.offsets = dilatedOffsets(phase.scale);
    this.out = out ?? new Float32Array(ctx.info.latentChannels * phase.latentHeight * phase.latentWidth);
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
    let padded = latents;
    if (hPad > 0 || wPad > 0) {
      this.padded = ensure(this.padded, n);
      padded = padTopLeft(latents, C, H, W, hPad, wPad, this.padded.subarray(0, n));
    }
    // G: what the model sees, L blurred with kernel 2s-1 and renormalised to L's statistics (applied per element
    // as the model input is built).
    let g = padded;
    let renorm: Renormalization | null = null;
    if (params.useGaussian) {
      const { c3 } = cosineFactors(t, params.cosineScale1, params.cosineScale2, params.cosineScale3);
      this.filtered = ensure(this.filtered, n);
      const input = meanStd(padded);
      g = gaussianFilter(
        padded,
        C,
        grid.paddedH,
        grid.paddedW,
        2 * s - 1,
        dilatedGaussianSigma(params.sigma, c3),
        this.filtered.subarray(0, n),
      );
      const blurred = meanStd(g);
      renorm = { mean: blurred.mean, std: blurred.std, targetMean: input.mean, targetStd: input.std };
    }
    const per = n / (s * s);
    const vbMax = params.viewBatchSize;

    for (let j = 0, batchNo = 0; j < this.offsets.length; j += vbMax, batchNo++) {
      const batch = this.offsets.slice(j, j + vbMax);
      const vb = batch.length;
      let shuffle: Int32Array | null = null;
      if (params.shuffle) {
        this.shuffleIdx = ensureI32(this.shuffleIdx, vb * per);
        shuffle = ctx.random.shuffleIndex(phase.id, i, batchNo, vb, per, this.shuffleIdx.subarray(0, vb * per));
      }
      this.modelIn = ensure(this.modelIn, 2 * vb * per);
      const modelIn = this.modelIn.subarray(0, 2 * vb * per);
      dilatedModelInput(g, grid, batch, renorm, shuffle, clock.inputDivisor(i), modelIn);
      const c = await ctx.conditioning.batch(params.negativePrompt, this.repeatPrompt(vb));
      const out = await caller.unet({
        sample: { data: modelIn, shape: [2 * vb, C, grid.paddedH / s, grid.paddedW / s] },
        timestep: t,
        encoderHiddenStates: c.encoderHiddenStates,
        textEmbeds: c.textEmbeds,
        timeIds: { data: this.timeIdsFor(vb), shape: [2 * vb, 6] },
      });
      const { sigma, sigmaNext } = clock.stepSigmas(i, true);
      const step = { guidanceScale: params.guidanceScale, sigma, sigmaNext };
      scatterGuided(padded, grid, batch, out.noise.data, shuffle, step, hPad, wPad, this.out);
    }
    return this.out;
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

function ensureI32(buf: Int32Array | undefined, n: number): Int32Array {
  return buf && buf.length >= n ? buf : new Int32Array(n);
}
