/**
 * UNet and ControlNet calls: input validation, batch splitting above `maxBatchRows`, ControlNet
 * residuals fed as given or as cached zeros ("no ControlNet"), outputs concatenated back.
 */
import { attentionGrid } from "@accdiff/shared";
import * as ort from "onnxruntime-node";
import {
  CONTROLNET_MID_OUTPUT,
  CONTROLNET_RESIDUAL_OUTPUT,
  DOWN_FACTORS,
  MID_FACTOR,
  UNET_MID_RESIDUAL_INPUT,
  UNET_RESIDUAL_INPUT,
} from "../contract";
import type { BundleInfo, ControlNetInput, ControlResiduals, HalfStage, Tensor, UNetInput, UNetOutput } from "../types";
import type { ComponentSession } from "./componentSession";
import type { HalfScratch } from "./halfCodec";
import {
  assertTensor,
  concatRows,
  floatFeed,
  type HalfCache,
  numel,
  scalarFeed,
  sliceRows,
  toTensor,
  zerosFeed,
} from "./tensors";

export interface UNetContext {
  session: ComponentSession;
  info: BundleInfo;
  maxBatchRows: number | undefined;
  zeros: ZeroResidualCache;
  /** Zero residuals as [rows, R, 1, 1] (accdiff-bundle/2 UNets broadcast them). */
  broadcastZeros: boolean;
  /** Half copies of the text conditioning (null: convert at every call, the data path before the cache). */
  halves: HalfCache | null;
  /**
   * WebAssembly memory the sample is narrowed in and the noise widened in, fed / filled by onnxruntime in place
   * (null: JS arrays each way, and `noiseOut` ignored: the data path before).
   */
  scratch: { feed: HalfScratch; fetch: HalfScratch } | null;
}

/**
 * The sample rows [s, e) as a feed. float16: narrowed in the caller's half room where it has one (no copy), else
 * copied into this backend's WebAssembly memory and narrowed there.
 */
function sampleFeed(ctx: UNetContext, input: UNetInput, s: number, e: number): { feed: ort.Tensor; done(): void } {
  const rows = sliceRows(input.sample, s, e);
  const type = ctx.session.inputType("sample");
  const n = rows.data.length;
  const stage = halfStage(ctx, input, n);
  if (type === "float16" && stage) {
    const halves = stage.sample.subarray(0, n);
    if (input.pairedRows && s % 2 === 0 && (e - s) % 2 === 0) {
      // Each CFG twin is its latent's copy: narrow one row of each pair and copy its half bits.
      const row = n / (e - s);
      for (let r = 0; r < n; r += 2 * row) {
        stage.toHalf(rows.data.subarray(r, r + row), halves.subarray(r, r + row));
        halves.copyWithin(r + row, r, r + row);
      }
    } else {
      stage.toHalf(rows.data, halves);
    }
    return { feed: new ort.Tensor("float16", halves, rows.shape), done: () => {} };
  }
  const slot = type === "float16" ? (ctx.scratch?.feed.acquire(n) ?? null) : null;
  if (!slot) return { feed: floatFeed(rows.data, rows.shape, type), done: () => {} };
  slot.floats.set(rows.data);
  ctx.scratch!.feed.narrow(n);
  return { feed: new ort.Tensor("float16", slot.halves, rows.shape), done: () => ctx.scratch!.feed.release() };
}

/** The caller's half room when `n` values fit (and the data path is current). */
function halfStage(ctx: UNetContext, input: UNetInput, n: number): HalfStage | undefined {
  const stage = input.halfStage;
  if (!ctx.scratch || !stage || stage.sample.length < n || stage.noise.length < n) return undefined;
  return stage;
}

/** Where a call's noise prediction goes: the caller's `noiseOut` when it fits (and the data path is current). */
export function noiseTarget(ctx: UNetContext, input: UNetInput): Float32Array {
  const n = input.sample.data.length;
  const out = input.noiseOut;
  if (ctx.scratch && out && out.length >= n) return out.subarray(0, n);
  return new Float32Array(n);
}

/**
 * One run of a denoiser (unet or unet_controlnet) for rows [s, e): the sample fed (narrowed in WebAssembly memory
 * for float16), the noise written into `noise` at those rows (a float16 output is filled by onnxruntime in
 * WebAssembly memory and widened there); returns attention_probs when fetched.
 */
export async function runDenoiser(
  ctx: UNetContext,
  input: UNetInput,
  s: number,
  e: number,
  feeds: Record<string, ort.Tensor>,
  withAttention: boolean,
  noise: Float32Array,
): Promise<Tensor | undefined> {
  const { session } = ctx;
  const fetches = withAttention ? ["out_sample", "attention_probs"] : ["out_sample"];
  const dims = [e - s, ...input.sample.shape.slice(1)];
  const n = numel(dims);
  const at = s * (n / (e - s));
  const sample = sampleFeed(ctx, input, s, e);
  try {
    feeds.sample = sample.feed;
    const half = session.outputType("out_sample") === "float16";
    const stage = half ? halfStage(ctx, input, n) : undefined;
    if (stage) {
      // onnxruntime writes the half noise into the caller's room; widened from there straight into `noise`.
      const halves = stage.noise.subarray(0, n);
      const out = await session.runRaw(feeds, fetches, { out_sample: new ort.Tensor("float16", halves, dims) });
      stage.fromHalf(halves, noise.subarray(at, at + n));
      return withAttention ? toTensor(out.attention_probs as ort.Tensor, `${session.file} attention_probs`) : undefined;
    }
    const fetch = ctx.scratch?.fetch;
    const slot = half ? (fetch?.acquire(n) ?? null) : null;
    if (slot) {
      try {
        const out = await session.runRaw(feeds, fetches, { out_sample: new ort.Tensor("float16", slot.halves, dims) });
        fetch!.widen(n);
        noise.set(slot.floats, at);
        return withAttention
          ? toTensor(out.attention_probs as ort.Tensor, `${session.file} attention_probs`)
          : undefined;
      } finally {
        fetch!.release();
      }
    }
    const out = await session.run(feeds, fetches);
    noise.set(out.out_sample.data, at);
    return out.attention_probs;
  } finally {
    sample.done();
  }
}

interface ResidualSlot {
  name: string;
  dims: number[];
}

/** The 9 + 1 residual inputs of `session` for a batch of `rows` latents of h x w. */
function residualSlots(session: ComponentSession, rows: number, h: number, w: number): ResidualSlot[] {
  const slot = (name: string, f: number): ResidualSlot => ({
    name,
    // Channel counts are fixed numbers (checked at load); a stride-2 conv gives ceil(h / 2).
    dims: [rows, session.inputShape(name)[1] as number, Math.ceil(h / f), Math.ceil(w / f)],
  });
  return [...DOWN_FACTORS.map((f, k) => slot(UNET_RESIDUAL_INPUT(k), f)), slot(UNET_MID_RESIDUAL_INPUT, MID_FACTOR)];
}

/**
 * Zero residual feeds per (rows, h, w), reused across calls: the pipeline calls the UNet with the
 * same shapes step after step. Only the two most recent shapes are kept (SDXL's largest set is
 * hundreds of MiB). With `broadcast` (accdiff-bundle/2: the UNet adds residuals with broadcasting)
 * they are [rows, R, 1, 1]: the same sums (x + 0), without ~54 MB per SDXL row to hand over.
 */
export class ZeroResidualCache {
  private entries: { key: string; feeds: Record<string, ort.Tensor> }[] = [];

  get(session: ComponentSession, rows: number, h: number, w: number, broadcast = false): Record<string, ort.Tensor> {
    if (broadcast) {
      h = 1;
      w = 1;
    }
    const key = `${session.file}:${rows}x${h}x${w}`;
    const hit = this.entries.findIndex((e) => e.key === key);
    if (hit >= 0) {
      const [e] = this.entries.splice(hit, 1);
      this.entries.unshift(e);
      return e.feeds;
    }
    const feeds: Record<string, ort.Tensor> = {};
    for (const s of residualSlots(session, rows, h, w)) feeds[s.name] = zerosFeed(s.dims, session.inputType(s.name));
    this.entries.unshift({ key, feeds });
    this.entries.length = Math.min(this.entries.length, 2);
    return feeds;
  }

  clear(): void {
    this.entries = [];
  }
}

/** Checks the UNet conditioning tensors against each other and the bundle; returns [B, h, w]. */
export function validate(input: UNetInput, info: BundleInfo, what: string): [number, number, number] {
  assertTensor(input.sample, `${what} sample`, 4);
  const [rows, channels, h, w] = input.sample.shape;
  const expect = (t: Tensor, name: string, shape: number[]) => {
    assertTensor(t, `${what} ${name}`, shape.length);
    if (t.shape.some((d, i) => d !== shape[i])) {
      throw new RangeError(`${what} ${name}: expected shape [${shape.join(", ")}], got [${t.shape.join(", ")}]`);
    }
  };
  if (channels !== info.latentChannels) {
    throw new RangeError(`${what} sample: expected ${info.latentChannels} channels, got ${channels}`);
  }
  expect(input.encoderHiddenStates, "encoderHiddenStates", [rows, info.maxTokens, info.textEmbedDim]);
  expect(input.textEmbeds, "textEmbeds", [rows, info.pooledDim]);
  expect(input.timeIds, "timeIds", [rows, 6]);
  if (!Number.isFinite(input.timestep)) throw new RangeError(`${what}: timestep ${input.timestep} is not finite`);
  return [rows, h, w];
}

/** Row ranges of at most `max` rows (rounded down to a multiple of `unit`, at least `unit`) covering [0, rows). */
export function chunks(rows: number, max: number | undefined, unit = 1): [number, number][] {
  const size = max === undefined || max <= 0 ? Math.max(rows, 1) : Math.max(unit, max - (max % unit));
  const out: [number, number][] = [];
  for (let s = 0; s < rows; s += size) out.push([s, Math.min(rows, s + size)]);
  return out;
}

/** The five conditioning feeds shared by UNet, ControlNet and the fused model, for rows [s, e). */
export function conditioningFeeds(
  session: ComponentSession,
  input: UNetInput,
  s: number,
  e: number,
  timestep: ort.Tensor,
  halves: HalfCache | null,
  withSample = true,
) {
  const feed = (name: string, t: Tensor) => {
    const rows = sliceRows(t, s, e);
    return floatFeed(rows.data, rows.shape, session.inputType(name));
  };
  // Text conditioning is fixed per phase: its half copy is made once (rows of it per call).
  const text = (name: string, t: Tensor) => {
    if (!halves || session.inputType(name) !== "float16") return feed(name, t);
    const stride = t.shape[0] === 0 ? 0 : t.data.length / t.shape[0];
    const half = halves.get(t.data).subarray(s * stride, e * stride);
    return new ort.Tensor("float16", half, [e - s, ...t.shape.slice(1)]);
  };
  return {
    sample: withSample ? feed("sample", input.sample) : (undefined as unknown as ort.Tensor),
    timestep,
    encoder_hidden_states: text("encoder_hidden_states", input.encoderHiddenStates),
    text_embeds: text("text_embeds", input.textEmbeds),
    time_ids: feed("time_ids", input.timeIds),
  };
}

export async function runUNet(ctx: UNetContext, input: UNetInput, residuals?: ControlResiduals): Promise<UNetOutput> {
  const { session, info } = ctx;
  const [rows, h, w] = validate(input, info, "unet");
  const takesResiduals = session.hasInput(UNET_MID_RESIDUAL_INPUT);
  const slots = takesResiduals ? residualSlots(session, rows, h, w) : [];
  const given = residuals ? [...residuals.down, residuals.mid] : undefined;
  if (given) {
    if (!takesResiduals) throw new Error(`${session.file} has no ControlNet residual inputs, but residuals were given`);
    if (given.length !== slots.length) {
      throw new RangeError(
        `unet: expected ${slots.length - 1} down residuals + mid, got ${residuals!.down.length} + mid`,
      );
    }
    slots.forEach((slot, i) => {
      const t = given[i];
      assertTensor(t, `unet residual '${slot.name}'`, 4);
      if (t.shape.some((d, j) => d !== slot.dims[j])) {
        throw new RangeError(
          `unet residual '${slot.name}': expected [${slot.dims.join(", ")}], got [${t.shape.join(", ")}]`,
        );
      }
    });
  }
  const withAttention = input.attention !== false && session.hasOutput("attention_probs");
  const timestep = scalarFeed(input.timestep, session.inputType("timestep"));
  const noise = noiseTarget(ctx, input);
  const attention: Tensor[] = [];
  for (const [s, e] of chunks(rows, ctx.maxBatchRows)) {
    const feeds: Record<string, ort.Tensor> = conditioningFeeds(session, input, s, e, timestep, ctx.halves, false);
    if (given) {
      slots.forEach((slot, i) => {
        const part = sliceRows(given[i], s, e);
        feeds[slot.name] = floatFeed(part.data, part.shape, session.inputType(slot.name));
      });
    } else if (takesResiduals) {
      Object.assign(feeds, ctx.zeros.get(session, e - s, h, w, ctx.broadcastZeros));
    }
    const att = await runDenoiser(ctx, input, s, e, feeds, withAttention, noise);
    if (att) attention.push(att);
  }
  const result: UNetOutput = { noise: { data: noise, shape: [...input.sample.shape] } };
  if (withAttention) {
    const att = concatRows(attention);
    const { mapH, mapW } = attentionGrid(info, h, w);
    const want = [rows, mapH * mapW, info.maxTokens];
    if (att.shape.length !== 3 || att.shape.some((d, i) => d !== want[i])) {
      throw new RangeError(
        `${session.file}: attention_probs has shape [${att.shape.join(", ")}], contract says [${want.join(", ")}]`,
      );
    }
    return { ...result, attention: att };
  }
  return result;
}

export async function runControlNet(ctx: UNetContext, input: ControlNetInput): Promise<ControlResiduals> {
  const { session, info } = ctx;
  const [rows, h, w] = validate(input, info, "controlnet");
  const f = info.vaeScaleFactor;
  assertTensor(input.cond, "controlnet cond", 4);
  const condShape = [rows, 3, h * f, w * f];
  if (input.cond.shape.some((d, i) => d !== condShape[i])) {
    throw new RangeError(`controlnet cond: expected [${condShape.join(", ")}], got [${input.cond.shape.join(", ")}]`);
  }
  const names = [...DOWN_FACTORS.map((_, k) => CONTROLNET_RESIDUAL_OUTPUT(k)), CONTROLNET_MID_OUTPUT];
  const timestep = scalarFeed(input.timestep, session.inputType("timestep"));
  const scale = scalarFeed(input.conditioningScale, session.inputType("conditioning_scale"));
  const parts: Tensor[][] = names.map(() => []);
  for (const [s, e] of chunks(rows, ctx.maxBatchRows)) {
    const cond = sliceRows(input.cond, s, e);
    const feeds: Record<string, ort.Tensor> = {
      ...conditioningFeeds(session, input, s, e, timestep, ctx.halves),
      controlnet_cond: floatFeed(cond.data, cond.shape, session.inputType("controlnet_cond")),
      conditioning_scale: scale,
    };
    const out = await session.run(feeds, names);
    for (let i = 0; i < names.length; i++) parts[i].push(out[names[i]]);
  }
  const all = parts.map(concatRows);
  return { down: all.slice(0, -1), mid: all[all.length - 1] };
}
