/**
 * The closed-form fake models of golden `pipeline_trajectory` (see its semantics), as a `Models`.
 *
 * The golden runs the reference `__call__` with these in place of SDXL, so running our pipeline over them must give
 * the same trajectories. Every operation is float32 with the Python constants rounded to float32 first, summed left
 * to right like the reference's expression. Pipeline unit tests use them too (cheap, deterministic, and sensitive to
 * every input of the UNet: sample, text, pooled text, crop time ids and ControlNet residual).
 *
 * Beyond the golden (which injects the attention store and never encodes an image), two optional closed forms:
 * `attention` makes the UNet export cross-attention maps (a softmax over tokens of a position/sample-dependent score),
 * and `vaeEncode` is a block average, so that the image-start path and attention collection can be tested.
 */

import { SDXL_SCHEDULER_CONFIG } from "../../models/sdxlScheduler";
import type {
  BundleInfo,
  ControlNetInput,
  ControlResiduals,
  Models,
  SchedulerConfig,
  Tensor,
  TextEmbedding,
  TokenizedPrompt,
  UNetInput,
  UNetOutput,
} from "../../models/types";

const f = Math.fround;

export interface FakeModelConstants {
  w_x: number;
  w_sin: number;
  a: number;
  b: number;
  g: number;
  m: number;
  kc: number;
  decode_divisor: number;
  embed_shape: number[];
  pooled_shape: number[];
  scaling_factor: number;
}

export interface FakeModelsOptions {
  constants: FakeModelConstants;
  /** The UNet's sample_size: base resolution = sampleSize * 8. */
  sampleSize: number;
  scheduler: SchedulerConfig;
  /** Stub tokenizer vocabulary (one token per whitespace-separated word). */
  vocab?: Record<string, number>;
  bos?: number;
  eos?: number;
  /** Export closed-form cross-attention maps from the UNet (not part of the golden). */
  attention?: boolean;
  /** Pretend the tokenizer cut texts longer than this many words (to test the warning). */
  truncateWordsAbove?: number;
}

export const GOLDEN_FAKE_CONSTANTS: FakeModelConstants = {
  w_x: 0.8,
  w_sin: 0.3,
  a: 0.05,
  b: 0.05,
  g: 0.02,
  m: 0.1,
  kc: 0.5,
  decode_divisor: 4.0,
  embed_shape: [1, 4, 8],
  pooled_shape: [1, 8],
  scaling_factor: 0.13025,
};

export const SDXL_SCHEDULER: SchedulerConfig = { ...SDXL_SCHEDULER_CONFIG };

/** e(s) = float32(((sum of UTF-8 bytes) mod 97)/97 - 0.5), computed in float64 then rounded. */
export function fakeEmbedValue(s: string): number {
  let sum = 0;
  for (const byte of new TextEncoder().encode(s)) sum += byte;
  return f((sum % 97) / 97 - 0.5);
}

/** p(s) = float32(len(s)/100). */
export function fakePooledValue(s: string): number {
  return f(s.length / 100);
}

export class FakeModels implements Models {
  readonly info: BundleInfo;
  private readonly k: Record<keyof Omit<FakeModelConstants, "embed_shape" | "pooled_shape">, number>;
  private readonly tokens: number;
  private readonly embedDim: number;
  private readonly pooledDim: number;

  constructor(private readonly opts: FakeModelsOptions) {
    const c = opts.constants;
    this.tokens = c.embed_shape[1];
    this.embedDim = c.embed_shape[2];
    this.pooledDim = c.pooled_shape[1];
    this.k = {
      w_x: f(c.w_x),
      w_sin: f(c.w_sin),
      a: f(c.a),
      b: f(c.b),
      g: f(c.g),
      m: f(c.m),
      kc: f(c.kc),
      decode_divisor: f(c.decode_divisor),
      scaling_factor: f(c.scaling_factor),
    };
    this.info = {
      name: "golden-fake",
      version: "1",
      hash: `fake-${opts.sampleSize}-${JSON.stringify(c)}`,
      baseResolution: opts.sampleSize * 8,
      vaeScaleFactor: 8,
      latentChannels: 4,
      vaeScalingFactor: c.scaling_factor,
      dtype: "fp32",
      scheduler: opts.scheduler,
      attentionDivisor: 32,
      textEmbedDim: this.embedDim,
      pooledDim: this.pooledDim,
      maxTokens: this.tokens,
    };
  }

  /**
   * The golden's stub tokenizer: str.split(), one id per word, BOS and EOS around. Unlike CLIP it does not pad to
   * maxTokens (the fake text encoder's sequence is only 4 long); the pipeline only reads `tokens` and `length`.
   */
  tokenize(text: string): TokenizedPrompt {
    const words = text.split(/\s+/).filter((w) => w.length > 0);
    const vocab = this.opts.vocab ?? {};
    const bos = this.opts.bos ?? 49406;
    const eos = this.opts.eos ?? 49407;
    const ids = Int32Array.from([bos, ...words.map((w, i) => vocab[w] ?? 1000 + i), eos]);
    const limit = this.opts.truncateWordsAbove;
    return {
      ids,
      length: ids.length,
      tokens: ["<|startoftext|>", ...words, "<|endoftext|>"],
      truncated: limit !== undefined && words.length > limit,
    };
  }

  async encodeText(text: string): Promise<TextEmbedding> {
    return {
      hidden: new Float32Array(this.tokens * this.embedDim).fill(fakeEmbedValue(text)),
      pooled: new Float32Array(this.pooledDim).fill(fakePooledValue(text)),
    };
  }

  async unet(input: UNetInput, residuals?: ControlResiduals): Promise<UNetOutput> {
    const [B, C, h, w] = input.sample.shape;
    const x = input.sample.data;
    const E = input.encoderHiddenStates.data;
    const P = input.textEmbeds.data;
    const TI = input.timeIds.data;
    const { w_x, w_sin, a, b, g, m, kc } = this.k;
    const per = C * h * w;
    const eStride = this.tokens * this.embedDim;
    const out = new Float32Array(B * per);
    for (let r = 0; r < B; r++) {
      const o = r * per;
      let sum = 0;
      for (let i = 0; i < per; i++) sum += x[o + i];
      const meanX = f(sum / per);
      const textTerm = f(a * E[r * eStride]);
      const pooledTerm = f(b * P[r * this.pooledDim]);
      const cropTerm = f(g * f(f(TI[r * 6 + 2] + TI[r * 6 + 3]) / 1000));
      const meanTerm = f(m * meanX);
      const resTerm = residuals ? f(kc * residuals.mid.data[r]) : 0;
      for (let i = 0; i < per; i++) {
        const v = x[o + i];
        let e = f(f(w_x * v) + f(w_sin * f(Math.sin(f(3 * v)))));
        e = f(e + textTerm);
        e = f(e + pooledTerm);
        e = f(e + cropTerm);
        e = f(e + meanTerm);
        if (residuals) e = f(e + resTerm);
        out[o + i] = e;
      }
    }
    const result: UNetOutput = { noise: { data: out, shape: [B, C, h, w] } };
    if (this.opts.attention) result.attention = this.fakeAttention(input);
    return result;
  }

  /**
   * A closed-form stand-in for cross-attention at the UNet's 1/4 latent resolution (ceil(h/4) x ceil(w/4), as two
   * stride-2 convolutions give): token j's score at pixel (y, x) is cos(y*(j+1)/3) + sin(x*(j+2)/5) + 0.1 * the mean
   * of the sample's (clipped) 4x4 block, softmaxed over the tokens.
   */
  private fakeAttention(input: UNetInput): Tensor {
    const [B, C, h, w] = input.sample.shape;
    const ah = Math.ceil(h / 4);
    const aw = Math.ceil(w / 4);
    const T = Math.max(this.tokens, 16);
    const out = new Float32Array(B * ah * aw * T);
    const scores = new Float64Array(T);
    for (let r = 0; r < B; r++) {
      for (let y = 0; y < ah; y++) {
        for (let x = 0; x < aw; x++) {
          let blk = 0;
          let cnt = 0;
          for (let c = 0; c < C; c++)
            for (let yy = y * 4; yy < Math.min(h, y * 4 + 4); yy++)
              for (let xx = x * 4; xx < Math.min(w, x * 4 + 4); xx++) {
                blk += input.sample.data[((r * C + c) * h + yy) * w + xx];
                cnt++;
              }
          blk /= cnt;
          let z = 0;
          for (let j = 0; j < T; j++) {
            scores[j] = Math.exp(Math.cos((y * (j + 1)) / 3) + Math.sin((x * (j + 2)) / 5) + 0.1 * blk);
            z += scores[j];
          }
          const o = ((r * ah + y) * aw + x) * T;
          for (let j = 0; j < T; j++) out[o + j] = scores[j] / z;
        }
      }
    }
    return { data: out, shape: [B, ah * aw, T] };
  }

  async controlnet(input: ControlNetInput): Promise<ControlResiduals> {
    const [B, C3, H, W] = input.cond.shape;
    const per = C3 * H * W;
    const r = new Float32Array(B);
    const s = f(input.conditioningScale);
    for (let b = 0; b < B; b++) {
      let sum = 0;
      for (let i = 0; i < per; i++) sum += input.cond.data[b * per + i];
      r[b] = f(s * f(sum / per));
    }
    const t: Tensor = { data: r, shape: [B, 1, 1, 1] };
    return { down: [t], mid: t };
  }

  /** q = floor(z / decode_divisor) per 8x8 block of channel c < 3; value = clamp((q + 0.5)/4, -1, 1). */
  async vaeDecode(latents: Tensor): Promise<Tensor> {
    const [, , h, w] = latents.shape;
    const H = h * 8;
    const W = w * 8;
    const out = new Float32Array(3 * H * W);
    const div = this.k.decode_divisor;
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const z = latents.data[(c * h + (y >> 3)) * w + (x >> 3)];
          const q = Math.floor(f(z / div));
          out[(c * H + y) * W + x] = Math.min(1, Math.max(-1, (q + 0.5) / 4));
        }
      }
    }
    return { data: out, shape: [1, 3, H, W] };
  }

  /** Not in the golden: the 8x8 block mean of each RGB channel times decode_divisor*2, channel 3 zero. */
  async vaeEncode(image: Tensor): Promise<Tensor> {
    const [, , H, W] = image.shape;
    const h = Math.floor(H / 8);
    const w = Math.floor(W / 8);
    const out = new Float32Array(4 * h * w);
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          let s = 0;
          for (let dy = 0; dy < 8; dy++)
            for (let dx = 0; dx < 8; dx++) s += image.data[(c * H + y * 8 + dy) * W + x * 8 + dx];
          out[(c * h + y) * w + x] = f((s / 64) * this.k.decode_divisor * 2);
        }
      }
    }
    return { data: out, shape: [1, 4, h, w] };
  }
}
