/**
 * Stand-in models that cost nothing: every output is a cached zero tensor of the right shape, so a benchmark over them
 * measures only the pipeline's own work. The UNet exports SDXL-like 32x32 cross-attention maps at the native size (a
 * fixed non-uniform pattern) so that attention masks and patch prompts are exercised.
 */
import { SDXL_SCHEDULER_CONFIG } from "../src/models/sdxlScheduler";
import type {
  BundleInfo,
  ControlNetInput,
  ControlRequest,
  ControlResiduals,
  Models,
  Tensor,
  TextEmbedding,
  TokenizedPrompt,
  UNetInput,
  UNetOutput,
} from "../src/models/types";

export const SDXL_INFO: BundleInfo = {
  name: "zero-cost",
  version: "0",
  hash: "bench",
  baseResolution: 1024,
  vaeScaleFactor: 8,
  latentChannels: 4,
  vaeScalingFactor: 0.13025,
  dtype: "fp16",
  scheduler: SDXL_SCHEDULER_CONFIG,
  attentionDivisor: 32,
  textEmbedDim: 2048,
  pooledDim: 1280,
  maxTokens: 77,
};

export class ZeroModels implements Models {
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
    if (h === 128 && w === 128) {
      const att = this.z([B, 32 * 32, 77]);
      if (att.data[1] === 0) for (let k = 0; k < att.data.length; k++) att.data[k] = ((k * 2654435761) % 1000) / 1000;
      out.attention = att;
    }
    return out;
  }

  /** ControlNet + UNet with the condition cropped model-side (as the fused bundle component): costs nothing here. */
  async unetControlled(input: UNetInput, _control: ControlRequest): Promise<UNetOutput> {
    return this.unet(input);
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
