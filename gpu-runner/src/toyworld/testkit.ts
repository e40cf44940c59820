/**
 * Test support for the toy world: onnxruntime sessions over a built bundle, prompt encoding, a
 * plain Euler sampler with classifier-free guidance (SDXL's schedule, written here so the toy
 * world depends on nothing of the pipeline), and pixel classification by the world's colours.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import * as ort from "onnxruntime-node";
import { CONTROLNET_OUTPUTS } from "./controlnet";
import { RESIDUAL_INPUTS } from "./unet";
import {
  MAX_TOKENS,
  RESIDUAL_CHANNELS,
  RESIDUAL_FACTORS,
  SCHEDULER,
  sigmaTable,
  THINGS,
  VAE_SCALING_FACTOR,
} from "./world";

export interface ToySessions {
  tokenizer: Tokenizer;
  padId2: number;
  eosId: number;
  textEncoder: ort.InferenceSession;
  textEncoder2: ort.InferenceSession;
  unet: ort.InferenceSession;
  controlnet: ort.InferenceSession;
  vaeDecoder: ort.InferenceSession;
  vaeEncoder: ort.InferenceSession;
}

export async function loadToyWorld(dir: string): Promise<ToySessions> {
  const json = async (p: string) => JSON.parse(await readFile(join(dir, p), "utf8"));
  const tokenizer = new Tokenizer(
    await json("tokenizer/tokenizer.json"),
    await json("tokenizer/tokenizer_config.json"),
  );
  const session = (name: string) =>
    ort.InferenceSession.create(join(dir, name, "model.onnx"), { intraOpNumThreads: 1, interOpNumThreads: 1 });
  return {
    tokenizer,
    padId2: 0,
    eosId: tokenizer.token_to_id("<|endoftext|>")!,
    textEncoder: await session("text_encoder"),
    textEncoder2: await session("text_encoder_2"),
    unet: await session("unet"),
    controlnet: await session("controlnet"),
    vaeDecoder: await session("vae_decoder"),
    vaeEncoder: await session("vae_encoder"),
  };
}

export const f32 = (data: Float32Array, dims: readonly number[]) => new ort.Tensor("float32", data, dims);

/** CLIP ids padded to 77 with `pad`: BOS + tokens + EOS + pads. */
export function promptIds(s: ToySessions, text: string, pad: number): Int32Array {
  const ids = s.tokenizer.encode(text).ids.slice(0, MAX_TOKENS);
  if (ids.length === MAX_TOKENS) ids[MAX_TOKENS - 1] = s.eosId;
  const out = new Int32Array(MAX_TOKENS).fill(pad);
  out.set(ids);
  return out;
}

export interface Conditioning {
  /** [77, D] penultimate hidden states of both encoders. */
  hidden: Float32Array;
  /** [P] */
  pooled: Float32Array;
}

export async function encodePrompt(s: ToySessions, text: string): Promise<Conditioning> {
  const run = (sess: ort.InferenceSession, ids: Int32Array) =>
    sess.run({ input_ids: new ort.Tensor("int32", ids, [1, MAX_TOKENS]) });
  const a = await run(s.textEncoder, promptIds(s, text, s.eosId));
  const b = await run(s.textEncoder2, promptIds(s, text, s.padId2));
  const penultimate = (r: ort.InferenceSession.ReturnType) => {
    const last = Math.max(
      ...Object.keys(r)
        .filter((k) => k.startsWith("hidden_states."))
        .map((k) => Number(k.split(".")[1])),
    );
    return r[`hidden_states.${last - 1}`];
  };
  const ha = penultimate(a).data as Float32Array;
  const hb = penultimate(b).data as Float32Array;
  const d1 = ha.length / MAX_TOKENS;
  const d2 = hb.length / MAX_TOKENS;
  const hidden = new Float32Array(MAX_TOKENS * (d1 + d2));
  for (let t = 0; t < MAX_TOKENS; t++) {
    hidden.set(ha.subarray(t * d1, (t + 1) * d1), t * (d1 + d2));
    hidden.set(hb.subarray(t * d2, (t + 1) * d2), t * (d1 + d2) + d1);
  }
  return { hidden, pooled: b.text_embeds.data as Float32Array };
}

/** Euler discrete schedule, "leading" spacing with steps_offset 1 (SDXL), sigmas end with 0. */
export function eulerSchedule(steps: number): { timesteps: number[]; sigmas: number[] } {
  const table = sigmaTable();
  const ratio = Math.floor(SCHEDULER.numTrainTimesteps / steps);
  const timesteps = Array.from({ length: steps }, (_, i) => (steps - 1 - i) * ratio + SCHEDULER.stepsOffset);
  return { timesteps, sigmas: [...timesteps.map((t) => table[t]), 0] };
}

/** Seeded standard normal samples (Box-Muller over mulberry32). */
export function gaussianNoise(n: number, seed: number): Float32Array {
  let a = seed >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(rand()));
    const th = 2 * Math.PI * rand();
    out[i] = r * Math.cos(th);
    if (i + 1 < n) out[i + 1] = r * Math.sin(th);
  }
  return out;
}

export function zeroResiduals(batch: number, h: number, w: number): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  RESIDUAL_INPUTS.forEach((name, k) => {
    const f = RESIDUAL_FACTORS[k];
    const dims = [batch, RESIDUAL_CHANNELS[k], Math.ceil(h / f), Math.ceil(w / f)];
    feeds[name] = f32(new Float32Array(dims.reduce((x, y) => x * y, 1)), dims);
  });
  return feeds;
}

export interface UnetCall {
  sample: Float32Array;
  batch: number;
  h: number;
  w: number;
  timestep: number;
  hidden: Float32Array;
  pooled: Float32Array;
  residuals?: Record<string, ort.Tensor>;
}

export async function runUnet(s: ToySessions, c: UnetCall): Promise<{ eps: Float32Array; attention: Float32Array }> {
  const r = await s.unet.run({
    sample: f32(c.sample, [c.batch, 4, c.h, c.w]),
    timestep: f32(Float32Array.of(c.timestep), [1]),
    encoder_hidden_states: f32(c.hidden, [c.batch, MAX_TOKENS, c.hidden.length / c.batch / MAX_TOKENS]),
    text_embeds: f32(c.pooled, [c.batch, c.pooled.length / c.batch]),
    time_ids: f32(new Float32Array(6 * c.batch), [c.batch, 6]),
    ...(c.residuals ?? zeroResiduals(c.batch, c.h, c.w)),
  });
  return { eps: r.out_sample.data as Float32Array, attention: r.attention_probs.data as Float32Array };
}

export async function runControlNet(
  s: ToySessions,
  c: UnetCall,
  cond: Float32Array,
  scale: number,
): Promise<Record<string, ort.Tensor>> {
  const r = await s.controlnet.run({
    sample: f32(c.sample, [c.batch, 4, c.h, c.w]),
    timestep: f32(Float32Array.of(c.timestep), [1]),
    encoder_hidden_states: f32(c.hidden, [c.batch, MAX_TOKENS, c.hidden.length / c.batch / MAX_TOKENS]),
    text_embeds: f32(c.pooled, [c.batch, c.pooled.length / c.batch]),
    time_ids: f32(new Float32Array(6 * c.batch), [c.batch, 6]),
    controlnet_cond: f32(cond, [c.batch, 3, 8 * c.h, 8 * c.w]),
    conditioning_scale: f32(Float32Array.of(scale), [1]),
  });
  const feeds: Record<string, ort.Tensor> = {};
  CONTROLNET_OUTPUTS.forEach((name, k) => {
    feeds[RESIDUAL_INPUTS[k]] = r[name];
  });
  return feeds;
}

export interface SampleOptions {
  prompt: string;
  negative?: string;
  h: number;
  w: number;
  steps?: number;
  guidance?: number;
  seed: number;
  /** Canny-style condition [3, 8h, 8w] in [0, 1] and its scale. */
  control?: { cond: Float32Array; scale: number };
}

export interface SampleResult {
  /** Final latents [4, h, w] (UNet space). */
  latents: Float32Array;
  /** Conditioned-row attention summed over steps and divided by their number: [(h/4)(w/4), 77]. */
  attention: Float32Array;
}

const concat2 = (a: Float32Array, b: Float32Array) => {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
};

/** Euler sampling from seeded noise with CFG (batch [uncond, cond]), as SDXL's pipeline. */
export async function sampleScene(s: ToySessions, o: SampleOptions): Promise<SampleResult> {
  const steps = o.steps ?? 30;
  const guidance = o.guidance ?? 7.5;
  const { timesteps, sigmas } = eulerSchedule(steps);
  const cond = await encodePrompt(s, o.prompt);
  const uncond = await encodePrompt(s, o.negative ?? "");
  const hidden = concat2(uncond.hidden, cond.hidden);
  const pooled = concat2(uncond.pooled, cond.pooled);
  const n = 4 * o.h * o.w;
  const init = Math.sqrt(sigmas[0] ** 2 + 1);
  const x = gaussianNoise(n, o.seed).map((v) => v * init);
  const attention = new Float32Array(((o.h * o.w) / 16) * MAX_TOKENS);
  const controlCond = o.control ? concat2(o.control.cond, o.control.cond) : undefined;
  for (let i = 0; i < steps; i++) {
    const scaleIn = 1 / Math.sqrt(sigmas[i] ** 2 + 1);
    const one = x.map((v) => v * scaleIn);
    const call: UnetCall = {
      sample: concat2(one, one),
      batch: 2,
      h: o.h,
      w: o.w,
      timestep: timesteps[i],
      hidden,
      pooled,
    };
    if (o.control && controlCond) call.residuals = await runControlNet(s, call, controlCond, o.control.scale);
    const { eps, attention: a } = await runUnet(s, call);
    const dt = sigmas[i + 1] - sigmas[i];
    for (let j = 0; j < n; j++) {
      const e = eps[j] + guidance * (eps[n + j] - eps[j]);
      x[j] += e * dt;
    }
    const rowLen = attention.length;
    for (let j = 0; j < rowLen; j++) attention[j] += a[rowLen + j] / steps;
  }
  return { latents: x, attention };
}

/** UNet latents [4, h, w] -> RGB [3, 8h, 8w] in [-1, 1]. */
export async function decodeLatents(
  s: ToySessions,
  latents: Float32Array,
  h: number,
  w: number,
): Promise<Float32Array> {
  const unscaled = latents.map((v) => v / VAE_SCALING_FACTOR);
  const r = await s.vaeDecoder.run({ latent_sample: f32(unscaled, [1, 4, h, w]) });
  return r.sample.data as Float32Array;
}

/** Index (THINGS) of the colour each pixel of RGB [3, H, W] is nearest to, -1 if none within `tol`. */
export function classifyPixels(rgb: Float32Array, height: number, width: number, tol = 0.35): Int8Array {
  const plane = height * width;
  const out = new Int8Array(plane);
  for (let p = 0; p < plane; p++) {
    let best = -1;
    let bestD = tol * tol;
    THINGS.forEach((t, k) => {
      const d = (rgb[p] - t.rgb[0]) ** 2 + (rgb[plane + p] - t.rgb[1]) ** 2 + (rgb[2 * plane + p] - t.rgb[2]) ** 2;
      if (d < bestD) {
        bestD = d;
        best = k;
      }
    });
    out[p] = best;
  }
  return out;
}

/** Pixel counts per thing (THINGS order) of a classification. */
export function countThings(classes: Int8Array): number[] {
  const counts = new Array(THINGS.length).fill(0);
  for (const c of classes) if (c >= 0) counts[c]++;
  return counts;
}
