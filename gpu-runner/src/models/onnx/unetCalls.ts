/**
 * UNet and ControlNet calls: input validation, batch splitting above `maxBatchRows`, ControlNet
 * residuals fed as given or as cached zeros ("no ControlNet"), outputs concatenated back.
 */
import type * as ort from "onnxruntime-node";
import {
  CONTROLNET_MID_OUTPUT,
  CONTROLNET_RESIDUAL_OUTPUT,
  DOWN_FACTORS,
  MID_FACTOR,
  UNET_MID_RESIDUAL_INPUT,
  UNET_RESIDUAL_INPUT,
} from "../contract";
import {
  attentionGrid,
  type BundleInfo,
  type ControlNetInput,
  type ControlResiduals,
  type Tensor,
  type UNetInput,
  type UNetOutput,
} from "../types";
import type { ComponentSession } from "./componentSession";
import { assertTensor, concatRows, floatFeed, scalarFeed, sliceRows, zerosFeed } from "./tensors";

export interface UNetContext {
  session: ComponentSession;
  info: BundleInfo;
  maxBatchRows: number | undefined;
  zeros: ZeroResidualCache;
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
 * hundreds of MiB).
 */
export class ZeroResidualCache {
  private entries: { key: string; feeds: Record<string, ort.Tensor> }[] = [];

  get(session: ComponentSession, rows: number, h: number, w: number): Record<string, ort.Tensor> {
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
function validate(input: UNetInput, info: BundleInfo, what: string): [number, number, number] {
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

/** Row ranges of at most `max` rows covering [0, rows). */
function chunks(rows: number, max: number | undefined): [number, number][] {
  const size = max === undefined || max <= 0 ? Math.max(rows, 1) : max;
  const out: [number, number][] = [];
  for (let s = 0; s < rows; s += size) out.push([s, Math.min(rows, s + size)]);
  return out;
}

/** The five conditioning feeds shared by UNet and ControlNet, for rows [s, e). */
function conditioningFeeds(session: ComponentSession, input: UNetInput, s: number, e: number, timestep: ort.Tensor) {
  const feed = (name: string, t: Tensor) => {
    const rows = sliceRows(t, s, e);
    return floatFeed(rows.data, rows.shape, session.inputType(name));
  };
  return {
    sample: feed("sample", input.sample),
    timestep,
    encoder_hidden_states: feed("encoder_hidden_states", input.encoderHiddenStates),
    text_embeds: feed("text_embeds", input.textEmbeds),
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
  const withAttention = session.hasOutput("attention_probs");
  const fetches = withAttention ? ["out_sample", "attention_probs"] : ["out_sample"];
  const timestep = scalarFeed(input.timestep, session.inputType("timestep"));
  const noise: Tensor[] = [];
  const attention: Tensor[] = [];
  for (const [s, e] of chunks(rows, ctx.maxBatchRows)) {
    const feeds: Record<string, ort.Tensor> = conditioningFeeds(session, input, s, e, timestep);
    if (given) {
      slots.forEach((slot, i) => {
        const part = sliceRows(given[i], s, e);
        feeds[slot.name] = floatFeed(part.data, part.shape, session.inputType(slot.name));
      });
    } else if (takesResiduals) {
      Object.assign(feeds, ctx.zeros.get(session, e - s, h, w));
    }
    const out = await session.run(feeds, fetches);
    noise.push(out.out_sample);
    if (withAttention) attention.push(out.attention_probs);
  }
  const result: UNetOutput = { noise: concatRows(noise) };
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
      ...conditioningFeeds(session, input, s, e, timestep),
      controlnet_cond: floatFeed(cond.data, cond.shape, session.inputType("controlnet_cond")),
      conditioning_scale: scale,
    };
    const out = await session.run(feeds, names);
    for (let i = 0; i < names.length; i++) parts[i].push(out[names[i]]);
  }
  const all = parts.map(concatRows);
  return { down: all.slice(0, -1), mid: all[all.length - 1] };
}
