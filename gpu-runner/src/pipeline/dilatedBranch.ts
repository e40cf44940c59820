/**
 * The global branch of an upscaling step: dilated sampling. The latent (top/left padded to multiples of s) is split
 * into s*s strided samples, each of the UNet's native size, so every model call sees the whole image. The model sees
 * the Gaussian-filtered samples (less aliasing), the scheduler steps the unfiltered ones; with window interaction
 * the samples of a batch exchange pixels through a per-element permutation before the model, undone after it.
 * Guidance uses guidance_scale and the main prompt with crop (0, 0), as in the reference.
 */
import { cosineFactors } from "./cosine";
import {
  cropTopLeft,
  type DilatedInputs,
  dilatedGaussianSigma,
  dilatedOffsets,
  gatherDilated,
  invertShuffleIndex,
  prepareDilatedInputs,
  scatterDilated,
  shuffleSamples,
  unshuffleSamples,
} from "./dilated";
import { type JobContext, phaseTimeIds } from "./job";
import type { PhaseSpec } from "./phasePlan";
import { cfgGuidance, cfgModelInput, ensure } from "./sampling";
import { repeatTimeIds } from "./timeIds";

export class DilatedBranch {
  private readonly offsets: ReturnType<typeof dilatedOffsets>;
  private readonly buffers: { padded?: Float32Array; filtered?: Float32Array } = {};
  private valueGlobal?: Float32Array;
  private readonly out: Float32Array;
  private samples?: Float32Array;
  private filteredSamples?: Float32Array;
  private shuffled?: Float32Array;
  private modelIn?: Float32Array;
  private guided?: Float32Array;
  private unshuffled?: Float32Array;
  private denoised?: Float32Array;
  private shuffleIdx?: Int32Array;
  private inverseIdx?: Int32Array;
  private readonly timeIds = new Map<number, Float32Array>();

  constructor(
    private readonly ctx: JobContext,
    private readonly phase: PhaseSpec,
  ) {
    this.offsets = dilatedOffsets(phase.scale);
    this.out = new Float32Array(ctx.info.latentChannels * phase.latentHeight * phase.latentWidth);
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
    let gaussSigma: number | null = null;
    if (params.useGaussian) {
      const { c3 } = cosineFactors(t, params.cosineScale1, params.cosineScale2, params.cosineScale3);
      gaussSigma = dilatedGaussianSigma(params.sigma, c3);
    }
    const d: DilatedInputs = prepareDilatedInputs(latents, C, H, W, s, gaussSigma, this.buffers);
    this.buffers.padded = d.padded;
    if (d.filtered !== d.padded) this.buffers.filtered = d.filtered;
    const PH = d.paddedH;
    const PW = d.paddedW;
    this.valueGlobal = ensure(this.valueGlobal, C * PH * PW);
    const value = this.valueGlobal.subarray(0, C * PH * PW);
    value.fill(0);
    const per = C * (PH / s) * (PW / s);
    const vbMax = params.viewBatchSize;

    for (let j = 0, batchNo = 0; j < this.offsets.length; j += vbMax, batchNo++) {
      const batch = this.offsets.slice(j, j + vbMax);
      const vb = batch.length;
      this.samples = ensure(this.samples, vb * per);
      const X = gatherDilated(d.padded, C, PH, PW, s, batch, this.samples.subarray(0, vb * per));
      let G = X;
      if (d.filtered !== d.padded) {
        this.filteredSamples = ensure(this.filteredSamples, vb * per);
        G = gatherDilated(d.filtered, C, PH, PW, s, batch, this.filteredSamples.subarray(0, vb * per));
      }
      let inverse: Int32Array | undefined;
      if (params.shuffle) {
        this.shuffleIdx = ensureI32(this.shuffleIdx, vb * per);
        this.inverseIdx = ensureI32(this.inverseIdx, vb * per);
        const idx = ctx.random.shuffleIndex(phase.id, i, batchNo, vb, per, this.shuffleIdx.subarray(0, vb * per));
        inverse = invertShuffleIndex(idx, vb, per, this.inverseIdx.subarray(0, vb * per));
        this.shuffled = ensure(this.shuffled, vb * per);
        G = shuffleSamples(G, idx, vb, per, this.shuffled.subarray(0, vb * per));
      }
      this.modelIn = ensure(this.modelIn, 2 * vb * per);
      const modelIn = cfgModelInput(G, vb, per, clock.inputDivisor(i), this.modelIn.subarray(0, 2 * vb * per));
      const c = await ctx.conditioning.batch(params.negativePrompt, this.repeatPrompt(vb));
      const out = await caller.unet({
        sample: { data: modelIn, shape: [2 * vb, C, PH / s, PW / s] },
        timestep: t,
        encoderHiddenStates: c.encoderHiddenStates,
        textEmbeds: c.textEmbeds,
        timeIds: { data: this.timeIdsFor(vb), shape: [2 * vb, 6] },
      });
      this.guided = ensure(this.guided, vb * per);
      let eps = cfgGuidance(out.noise.data, vb, per, params.guidanceScale, this.guided.subarray(0, vb * per));
      if (inverse) {
        this.unshuffled = ensure(this.unshuffled, vb * per);
        eps = unshuffleSamples(eps, inverse, vb, per, this.unshuffled.subarray(0, vb * per));
      }
      this.denoised = ensure(this.denoised, vb * per);
      const denoised = this.denoised.subarray(0, vb * per);
      clock.step(i, eps, X, denoised, true);
      scatterDilated(value, C, PH, PW, s, batch, denoised);
    }
    return cropTopLeft(value, C, PH, PW, d.hPad, d.wPad, this.out);
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
