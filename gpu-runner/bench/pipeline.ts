/**
 * Pipeline overhead benchmark: the whole AccDiffusion loop with zero-cost stand-in models (outputs are preallocated
 * zero tensors of the right shapes), so everything measured is the pipeline's own work. Prints JSON per size:
 * milliseconds of pipeline work per denoising step (phase 1 and upscaling steps, excluding per-phase work such as
 * decoding post-processing and canny) and peak RSS.
 *
 *   npx tsx gpu-runner/bench/pipeline.ts [sizes=2048,4096] [steps=3]
 */
import type {
  BundleInfo,
  ControlNetInput,
  ControlResiduals,
  Models,
  Tensor,
  TextEmbedding,
  TokenizedPrompt,
  UNetInput,
  UNetOutput,
} from "../src/models/types";
import { runAccDiffusion } from "../src/pipeline/accdiffusion";

const SDXL_INFO: BundleInfo = {
  name: "zero-cost",
  version: "0",
  hash: "bench",
  baseResolution: 1024,
  vaeScaleFactor: 8,
  latentChannels: 4,
  vaeScalingFactor: 0.13025,
  dtype: "fp16",
  scheduler: {
    numTrainTimesteps: 1000,
    betaStart: 0.00085,
    betaEnd: 0.012,
    betaSchedule: "scaled_linear",
    timestepSpacing: "leading",
    stepsOffset: 1,
    predictionType: "epsilon",
  },
  attentionDivisor: 32,
  textEmbedDim: 2048,
  pooledDim: 1280,
  maxTokens: 77,
};

/** Models whose outputs cost nothing: cached zero tensors per shape. */
class ZeroModels implements Models {
  readonly info = SDXL_INFO;
  private readonly zeros = new Map<string, Float32Array>();

  private z(shape: number[]): Tensor {
    const key = shape.join("x");
    let d = this.zeros.get(key);
    if (!d) {
      d = new Float32Array(shape.reduce((a, b) => a * b, 1));
      this.zeros.set(key, d);
    }
    return { data: d, shape };
  }

  tokenize(text: string): TokenizedPrompt {
    const words = text.split(/\s+/).filter(Boolean).slice(0, 75);
    const ids = new Int32Array(77);
    return { ids, length: words.length + 2, tokens: ["<|startoftext|>", ...words, "<|endoftext|>"], truncated: false };
  }

  async encodeText(): Promise<TextEmbedding> {
    return { hidden: new Float32Array(77 * 2048), pooled: new Float32Array(1280) };
  }

  async unet(input: UNetInput): Promise<UNetOutput> {
    const [B, C, h, w] = input.sample.shape;
    const out: UNetOutput = { noise: this.z([B, C, h, w]) };
    // Attention like SDXL's 32x32 layers, only at the native size (phase 1).
    if (h === 128 && w === 128) {
      const att = this.z([B, 32 * 32, 77]);
      // A non-uniform map so that masks and patch prompts are exercised.
      if (att.data[1] === 0) for (let k = 0; k < att.data.length; k++) att.data[k] = ((k * 2654435761) % 1000) / 1000;
      out.attention = att;
    }
    return out;
  }

  async controlnet(input: ControlNetInput): Promise<ControlResiduals> {
    const B = input.sample.shape[0];
    return { down: [], mid: this.z([B, 1280, 1, 1]) };
  }

  async vaeDecode(latents: Tensor): Promise<Tensor> {
    const [, , h, w] = latents.shape;
    return this.z([1, 3, h * 8, w * 8]);
  }

  async vaeEncode(image: Tensor): Promise<Tensor> {
    const [, , H, W] = image.shape;
    return this.z([1, 4, H / 8, W / 8]);
  }
}

const sizes = (process.argv[2] ?? "2048,4096").split(",").map(Number);
const steps = Number(process.argv[3] ?? 3);
for (const size of sizes) {
  const models = new ZeroModels();
  const stepMs: Record<number, number[]> = {};
  let last = performance.now();
  let peakRss = process.memoryUsage().rss;
  const result = await runAccDiffusion(
    models,
    {
      prompt: "a cat and a dog are playing on the lawn",
      width: size,
      height: size,
      steps,
      seed: 1,
      useControlNet: process.env.BENCH_CONTROLNET !== "0",
    },
    {
      embeddingCache: null,
      onProgress: (e) => {
        const t = performance.now();
        stepMs[e.phase] ??= [];
        stepMs[e.phase].push(t - last);
        last = t;
        peakRss = Math.max(peakRss, process.memoryUsage().rss);
      },
    },
  );
  // The first step of a phase also carries the phase's setup (upscale, previous decode + canny), so it is left out.
  // The minimum is the least disturbed by other processes; the median is reported too.
  const steady = (v: number[]) => (v.length > 1 ? v.slice(1) : v);
  const round = (x: number) => Math.round(x * 10) / 10;
  const perPhase = Object.fromEntries(Object.entries(stepMs).map(([k, v]) => [k, round(median(steady(v)))]));
  const minPerPhase = Object.fromEntries(Object.entries(stepMs).map(([k, v]) => [k, round(Math.min(...steady(v)))]));
  console.log(
    JSON.stringify({
      size,
      steps,
      phases: result.phases.map((p) => p.id),
      medianStepMsByPhase: perPhase,
      minStepMsByPhase: minPerPhase,
      totalMs: Math.round(result.timings.totalMs),
      pipelineMsPerStepIncludingPhaseWork: Math.round(result.timings.pipelineMsPerStep * 10) / 10,
      peakRssMB: Math.round(peakRss / 2 ** 20),
    }),
  );
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
