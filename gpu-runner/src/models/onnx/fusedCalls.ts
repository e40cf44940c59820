/**
 * The fused ControlNet + UNet call (`unet_controlnet`, docs/model-bundle.md): residuals never leave onnxruntime, and
 * the condition crosses once per phase: its zero-padded single-channel copy (in the model's element type) is built
 * on the first call that names it and kept while the pipeline holds the ControlCondition. Each call then feeds the
 * rows of that copy its views need (a subarray: no host copy) and one (top, left) per view; the graph crops, expands
 * to 3 channels and repeats for the CFG rows.
 */
import * as ort from "onnxruntime-node";
import { boxCount } from "../controlCrops";
import type { ControlCondition, ControlRequest, Tensor, UNetInput, UNetOutput } from "../types";
import { toHalf } from "./halfCodec";
import { concatRows, scalarFeed } from "./tensors";
import { chunks, conditioningFeeds, noiseTarget, runDenoiser, type UNetContext, validate } from "./unetCalls";

/** The phase condition, zero-padded, in the element type the model declares: [height, width]. */
interface PaddedCondition {
  data: Float32Array | Uint16Array;
  height: number;
  width: number;
}

/** One padded copy per ControlCondition (and element type), dropped with it. */
export class PaddedConditions {
  private readonly copies = new WeakMap<ControlCondition, Map<string, PaddedCondition>>();

  get(cond: ControlCondition, type: string): PaddedCondition {
    let byType = this.copies.get(cond);
    if (!byType) {
      byType = new Map();
      this.copies.set(cond, byType);
    }
    let p = byType.get(type);
    if (!p) {
      p = pad(cond, type);
      byType.set(type, p);
    }
    return p;
  }
}

function pad(cond: ControlCondition, type: string): PaddedCondition {
  const { data, height: H, width: W, pad: k } = cond;
  if (data.length !== H * W) throw new RangeError(`control condition: ${data.length} values, not ${H}*${W}`);
  if (!Number.isInteger(k) || k < 0) throw new RangeError(`control condition: pad ${k}`);
  const height = H + 2 * k;
  const width = W + 2 * k;
  const padded = new Float32Array(height * width);
  for (let y = 0; y < H; y++) padded.set(data.subarray(y * W, (y + 1) * W), (y + k) * width + k);
  if (type === "float32") return { data: padded, height, width };
  if (type === "float16") return { data: toHalf(padded), height, width };
  throw new TypeError(`cannot feed the control condition as ${type}`);
}

/** (top, left) boxes as the declared integer type, tops made relative to `bandTop`. */
function boxesFeed(boxes: Int32Array, bandTop: number, type: string): ort.Tensor {
  const n = boxes.length / 2;
  const rel = (i: number) => (i % 2 === 0 ? boxes[i] - bandTop : boxes[i]);
  if (type === "int64")
    return new ort.Tensor(
      "int64",
      BigInt64Array.from({ length: 2 * n }, (_, i) => BigInt(rel(i))),
      [n, 2],
    );
  if (type === "int32")
    return new ort.Tensor(
      "int32",
      Int32Array.from({ length: 2 * n }, (_, i) => rel(i)),
      [n, 2],
    );
  throw new TypeError(`cannot feed crop boxes as ${type}`);
}

export interface FusedContext extends UNetContext {
  conditions: PaddedConditions;
}

export async function runFused(ctx: FusedContext, input: UNetInput, control: ControlRequest): Promise<UNetOutput> {
  const { session, info } = ctx;
  const [rows, h, w] = validate(input, info, "unet_controlnet");
  const views = boxCount(control.boxes, rows);
  const perView = rows / views;
  const k = info.vaeScaleFactor;
  const ph = k * h;
  const pw = k * w;
  const condType = session.inputType("controlnet_cond");
  const padded = ctx.conditions.get(control.condition, condType);
  for (let v = 0; v < views; v++) {
    const top = control.boxes[2 * v];
    const left = control.boxes[2 * v + 1];
    if (top < 0 || left < 0 || top + ph > padded.height || left + pw > padded.width) {
      throw new RangeError(
        `unet_controlnet: a ${ph}x${pw} crop at (${top}, ${left}) leaves the ${padded.height}x${padded.width} padded condition`,
      );
    }
  }
  const withAttention = input.attention !== false && session.hasOutput("attention_probs");
  const timestep = scalarFeed(input.timestep, session.inputType("timestep"));
  const scale = scalarFeed(control.conditioningScale, session.inputType("conditioning_scale"));
  const boxType = session.inputType("crop_boxes");
  const noise = noiseTarget(ctx, input);
  const attention: Tensor[] = [];
  for (const [s, e] of chunks(rows, ctx.maxBatchRows, perView)) {
    const boxes = control.boxes.subarray((2 * s) / perView, (2 * e) / perView);
    // The rows of the padded condition these views' crops cover: a view of the phase copy, fed in place.
    let top = Number.POSITIVE_INFINITY;
    let bottom = 0;
    for (let i = 0; i < boxes.length; i += 2) {
      top = Math.min(top, boxes[i]);
      bottom = Math.max(bottom, boxes[i] + ph);
    }
    const band = padded.data.subarray(top * padded.width, bottom * padded.width);
    const dims = [1, 1, bottom - top, padded.width];
    const feeds: Record<string, ort.Tensor> = {
      ...conditioningFeeds(session, input, s, e, timestep, ctx.halves, false),
      controlnet_cond:
        band instanceof Float32Array ? new ort.Tensor("float32", band, dims) : new ort.Tensor("float16", band, dims),
      crop_boxes: boxesFeed(boxes, top, boxType),
      conditioning_scale: scale,
    };
    const att = await runDenoiser(ctx, input, s, e, feeds, withAttention, noise);
    if (att) attention.push(att);
  }
  const result: UNetOutput = { noise: { data: noise, shape: [...input.sample.shape] } };
  return withAttention ? { ...result, attention: concatRows(attention) } : result;
}
