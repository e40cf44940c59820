/**
 * Test support: a small bundle that satisfies the contract with closed-form models, so the onnx
 * backend's plumbing (names, element types, batching, residuals, concatenation order) can be
 * checked exactly, and broken variants for the contract checker. Every float input is cast to
 * float32 at once and every float output cast back at the end, so fp16 variants run on the CPU
 * execution provider (which lacks most float16 kernels).
 *
 * The closed forms (`x` = a float32 view of the ids, ids as floats):
 *   text_encoder    hidden_states.k = x[..., None] * TE1_W[k]            (k = 0..3, penultimate 2)
 *   text_encoder_2  hidden_states.k = x[..., None] * TE2_W[k]            (k = 0..2, penultimate 1)
 *                   text_embeds     = sum_tokens(x)[:, None] * POOL_W
 *   unet            out_sample = 0.5 sample + 0.001 t + row(ehs) + row(text_embeds) + row(time_ids)
 *                                + sum_k row(residual_k)        (row(v) = mean of v's row)
 *                   attention_probs = softmax_T(mean_C(avgpool_a(sample))[..., None] * ATT_G)
 *   controlnet      res_k = scale * (mean_C(avgpool_f(sample)) + row(cond) + k), broadcast to R_k
 *   vae_decoder     sample = 0.5 * nearest_up8(latent[:, 0:3])
 *   vae_encoder     latent = concat(avgpool_8(image), mean_C(avgpool_8(image)))
 */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { DOWN_FACTORS, MID_FACTOR } from "../contract";
import { SDXL_SCHEDULER_CONFIG } from "../sdxlScheduler";
import { writeClipTokenizerFixture } from "./clipTokenizerFixture";
import { type Attr, type Dim, encodeOnnxModel, type InitializerSpec, type NodeSpec } from "./onnxProto";

export const STUB = {
  T: 77,
  C: 4,
  D1: 4,
  D2: 6,
  P: 3,
  R: [2, 2, 2, 2, 3, 3, 3, 5, 5],
  RM: 5,
  TE1_W: [0, 1, 2, 3].map((k) => [1, 2, 3, 4].map((j) => (k + 1) * j * 0.001)),
  TE2_W: [0, 1, 2].map((k) => [1, 2, 3, 4, 5, 6].map((j) => -(k + 1) * j * 0.0005)),
  POOL_W: [0.01, -0.02, 0.03],
  ATT_G: Array.from({ length: 77 }, (_, i) => Math.sin(i) * 0.5),
} as const;

const CODE = { float32: 1, int32: 6, int64: 7, float16: 10 } as const;
export type StubType = keyof typeof CODE;

export interface StubOptions {
  dtype?: "fp32" | "fp16";
  /** Element type of the unet/controlnet `timestep` input (default: the bundle's float type). */
  timestepType?: StubType;
  /** `component/input` or `component/output` -> element type override (for broken bundles). */
  typeOverride?: Record<string, StubType>;
  /** `component/input` or `component/output` -> declared shape override (for broken bundles). */
  shapeOverride?: Record<string, Dim[]>;
  /** `component/name` -> new name. */
  rename?: Record<string, string>;
  /** Leave out the ControlNet residual inputs of the UNet (and the controlnet component). */
  noControlnet?: boolean;
  /** Leave out the UNet's attention_probs output. */
  noAttention?: boolean;
  /** Extra bundle.json fields / replacements. */
  bundleJson?: Record<string, unknown>;
}

/** A tiny graph builder with float16 graph IO (computing in float32 inside). */
class StubGraph {
  readonly nodes: NodeSpec[] = [];
  readonly inits: InitializerSpec[] = [];
  readonly inputs: { name: string; dataType: number; dims: readonly Dim[] }[] = [];
  readonly outputs: { name: string; dataType: number; dims: readonly Dim[] }[] = [];
  private n = 0;
  constructor(
    readonly component: string,
    readonly opts: StubOptions,
  ) {}

  private floatType(): StubType {
    return this.opts.dtype === "fp16" ? "float16" : "float32";
  }
  private declared(name: string, type: StubType, dims: readonly Dim[]) {
    const key = `${this.component}/${name}`;
    return {
      name: this.opts.rename?.[key] ?? name,
      type: this.opts.typeOverride?.[key] ?? type,
      dims: this.opts.shapeOverride?.[key] ?? dims,
    };
  }
  op(opType: string, inputs: string[], attrs: Record<string, Attr> = {}): string {
    const out = `v${this.n++}`;
    this.nodes.push({ opType, name: `n${this.n}`, inputs, outputs: [out], attrs });
    return out;
  }
  const(data: readonly number[], dims: readonly number[], type: "float32" | "int64" = "float32"): string {
    const name = `c${this.n++}`;
    const raw =
      type === "float32"
        ? new Uint8Array(Float32Array.from(data).buffer)
        : new Uint8Array(BigInt64Array.from(data.map((x) => BigInt(x))).buffer);
    this.inits.push({ name, dataType: CODE[type], dims, raw });
    return name;
  }
  cast(x: string, to: StubType): string {
    return this.op("Cast", [x], { to: { kind: "int", value: CODE[to] } });
  }
  /** Declares a graph input; returns it as float32 (cast when declared otherwise). */
  input(name: string, dims: readonly Dim[], type: StubType = this.floatType()): string {
    const d = this.declared(name, type, dims);
    this.inputs.push({ name: d.name, dataType: CODE[d.type], dims: d.dims });
    return d.type === "float32" ? d.name : this.cast(d.name, "float32");
  }
  output(name: string, value: string, dims: readonly Dim[], type: StubType = this.floatType()): void {
    const d = this.declared(name, type, dims);
    const v = d.type === "float32" ? value : this.cast(value, d.type);
    this.nodes.push({ opType: "Identity", name: `o_${d.name}`, inputs: [v], outputs: [d.name], attrs: {} });
    this.outputs.push({ name: d.name, dataType: CODE[d.type], dims: d.dims });
  }
  mean(x: string, axes: number[]): string {
    return this.op("ReduceMean", [x], { axes: { kind: "ints", value: axes }, keepdims: { kind: "int", value: 1 } });
  }
  pool(x: string, k: number): string {
    if (k === 1) return x;
    // ceil_mode: a partial last window is kept, so side n pools to ceil(n / k), the contract's grid (attentionGrid).
    return this.op("AveragePool", [x], {
      kernel_shape: { kind: "ints", value: [k, k] },
      strides: { kind: "ints", value: [k, k] },
      ceil_mode: { kind: "int", value: 1 },
    });
  }
  /** [B, ...] -> [B, 1, 1, 1] mean over everything but the batch. */
  rowMean(x: string, rank: number): string {
    const m = this.mean(
      x,
      Array.from({ length: rank - 1 }, (_, i) => i + 1),
    );
    return rank === 4
      ? m
      : this.op("Unsqueeze", [
          m,
          this.const(
            Array.from({ length: 4 - rank }, (_, i) => rank + i),
            [4 - rank],
            "int64",
          ),
        ]);
  }
  encode(): Uint8Array {
    return encodeOnnxModel({
      name: this.component,
      nodes: this.nodes,
      initializers: this.inits,
      inputs: this.inputs,
      outputs: this.outputs,
    });
  }
}

function textEncoder(opts: StubOptions, which: 1 | 2): Uint8Array {
  const g = new StubGraph(which === 1 ? "text_encoder" : "text_encoder_2", opts);
  const ids = g.input("input_ids", ["batch", STUB.T], "int32");
  const x = g.op("Unsqueeze", [g.cast(ids, "float32"), g.const([2], [1], "int64")]);
  const weights = which === 1 ? STUB.TE1_W : STUB.TE2_W;
  const width = which === 1 ? STUB.D1 : STUB.D2;
  weights.forEach((w, k) => {
    g.output(`hidden_states.${k}`, g.op("Mul", [x, g.const(w, [width])]), ["batch", STUB.T, width]);
  });
  if (which === 2) {
    const sum = g.op("ReduceSum", [g.cast(ids, "float32"), g.const([1], [1], "int64")], {
      keepdims: { kind: "int", value: 1 },
    });
    g.output("text_embeds", g.op("Mul", [sum, g.const(STUB.POOL_W, [STUB.P])]), ["batch", STUB.P]);
  }
  return g.encode();
}

function conditioning(g: StubGraph, opts: StubOptions) {
  const sample = g.input("sample", ["batch", STUB.C, "height", "width"]);
  const t = g.input("timestep", [1], opts.timestepType);
  const ehs = g.input("encoder_hidden_states", ["batch", STUB.T, STUB.D1 + STUB.D2]);
  const te = g.input("text_embeds", ["batch", STUB.P]);
  const ids = g.input("time_ids", ["batch", 6]);
  return { sample, t, ehs, te, ids };
}

function unet(opts: StubOptions): Uint8Array {
  const g = new StubGraph("unet", opts);
  const c = conditioning(g, opts);
  let acc = g.op("Mul", [c.sample, g.const([0.5], [])]);
  acc = g.op("Add", [acc, g.op("Mul", [c.t, g.const([0.001], [])])]);
  acc = g.op("Add", [acc, g.rowMean(c.ehs, 3)]);
  acc = g.op("Add", [acc, g.rowMean(c.te, 2)]);
  acc = g.op("Add", [acc, g.rowMean(c.ids, 2)]);
  if (!opts.noControlnet) {
    DOWN_FACTORS.forEach((f, k) => {
      const r = g.input(`down_block_additional_residual_${k}`, ["batch", STUB.R[k], `h${f}`, `w${f}`]);
      acc = g.op("Add", [acc, g.rowMean(r, 4)]);
    });
    const mid = g.input("mid_block_additional_residual", ["batch", STUB.RM, "h4", "w4"]);
    acc = g.op("Add", [acc, g.rowMean(mid, 4)]);
  }
  g.output("out_sample", acc, ["batch", STUB.C, "height", "width"]);
  if (!opts.noAttention) {
    const m = g.mean(g.pool(c.sample, 4), [1]);
    const cols = g.op("Reshape", [m, g.const([0, -1, 1], [3], "int64")]);
    const logits = g.op("Mul", [cols, g.const(STUB.ATT_G, [STUB.T])]);
    g.output("attention_probs", g.op("Softmax", [logits], { axis: { kind: "int", value: -1 } }), [
      "batch",
      "pixels",
      STUB.T,
    ]);
  }
  return g.encode();
}

function controlnet(opts: StubOptions): Uint8Array {
  const g = new StubGraph("controlnet", opts);
  const c = conditioning(g, opts);
  const cond = g.input("controlnet_cond", ["batch", 3, "H", "W"]);
  const scale = g.input("conditioning_scale", [1]);
  const condMean = g.rowMean(cond, 4);
  const residual = (name: string, f: number, channels: number, k: number, dims: Dim[]) => {
    let v = g.op("Add", [g.mean(g.pool(c.sample, f), [1]), condMean]);
    v = g.op("Add", [v, g.const([k], [])]);
    v = g.op("Mul", [v, scale]);
    g.output(name, g.op("Mul", [v, g.const(new Array(channels).fill(1), [1, channels, 1, 1])]), dims);
  };
  DOWN_FACTORS.forEach((f, k) => {
    residual(`down_block_res_sample_${k}`, f, STUB.R[k], k, ["batch", STUB.R[k], `h${f}`, `w${f}`]);
  });
  residual("mid_block_res_sample", MID_FACTOR, STUB.RM, DOWN_FACTORS.length, ["batch", STUB.RM, "h4", "w4"]);
  return g.encode();
}

function vaeDecoder(opts: StubOptions): Uint8Array {
  const g = new StubGraph("vae_decoder", opts);
  const z = g.input("latent_sample", ["batch", STUB.C, "height", "width"]);
  const rgb = g.op("Slice", [z, g.const([0], [1], "int64"), g.const([3], [1], "int64"), g.const([1], [1], "int64")]);
  const up = g.op("Resize", [rgb, "", g.const([1, 1, 8, 8], [4])], {
    mode: { kind: "string", value: "nearest" },
    coordinate_transformation_mode: { kind: "string", value: "asymmetric" },
    nearest_mode: { kind: "string", value: "floor" },
  });
  g.output("sample", g.op("Mul", [up, g.const([0.5], [])]), ["batch", 3, "H", "W"]);
  return g.encode();
}

function vaeEncoder(opts: StubOptions): Uint8Array {
  const g = new StubGraph("vae_encoder", opts);
  const x = g.input("sample", ["batch", 3, "H", "W"]);
  const p = g.pool(x, 8);
  g.output("latent_sample", g.op("Concat", [p, g.mean(p, [1])], { axis: { kind: "int", value: 1 } }), [
    "batch",
    STUB.C,
    "height",
    "width",
  ]);
  return g.encode();
}

/** The stub's bundle.json (before `opts.bundleJson` is merged in). */
export function stubBundleJson(opts: StubOptions = {}): Record<string, unknown> {
  const components: Record<string, string> = {
    text_encoder: "text_encoder/model.onnx",
    text_encoder_2: "text_encoder_2/model.onnx",
    unet: "unet/model.onnx",
    vae_decoder: "vae_decoder/model.onnx",
    vae_encoder: "vae_encoder/model.onnx",
  };
  if (!opts.noControlnet) components.controlnet = "controlnet/model.onnx";
  return {
    format: "accdiff-bundle/1",
    name: "stub",
    version: "0",
    hash: `stub-${opts.dtype ?? "fp32"}`,
    baseResolution: 64,
    vaeScaleFactor: 8,
    latentChannels: STUB.C,
    vaeScalingFactor: 0.5,
    dtype: opts.dtype ?? "fp32",
    attentionDivisor: 32,
    textEmbedDim: STUB.D1 + STUB.D2,
    pooledDim: STUB.P,
    maxTokens: STUB.T,
    scheduler: { ...SDXL_SCHEDULER_CONFIG },
    controlnet: opts.noControlnet ? null : "canny",
    components,
    ...opts.bundleJson,
  };
}

/** Writes a complete stub bundle into `dir`. */
export async function writeStubBundle(dir: string, opts: StubOptions = {}): Promise<void> {
  const models: Record<string, Uint8Array> = {
    text_encoder: textEncoder(opts, 1),
    text_encoder_2: textEncoder(opts, 2),
    unet: unet(opts),
    vae_decoder: vaeDecoder(opts),
    vae_encoder: vaeEncoder(opts),
  };
  if (!opts.noControlnet) models.controlnet = controlnet(opts);
  for (const [name, bytes] of Object.entries(models)) {
    const path = join(dir, name, "model.onnx");
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, bytes);
  }
  await writeClipTokenizerFixture(join(dir, "tokenizer"));
  await writeClipTokenizerFixture(join(dir, "tokenizer_2"), { padToken: "!" });
  await writeFile(join(dir, "bundle.json"), JSON.stringify(stubBundleJson(opts), null, 2));
}
