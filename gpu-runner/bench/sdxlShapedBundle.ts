/**
 * A bundle with SDXL's exact signature and nearly no arithmetic, for `npm run bench:backend`: fp16 tensors, 2048-wide
 * text conditioning, 1280 pooled, the 10 residuals at SDXL's channel counts (320 .. 1280) and resolutions, the
 * separate ControlNet and UNet and the fused `unet_controlnet` (accdiff-bundle/2). Every tensor the real models
 * exchange exists at its real size (the ControlNet's residuals are materialised inside onnxruntime, or fetched by the
 * separate path), but each graph reads only a few elements of its big inputs, so `session.run` costs little and what
 * the bench measures is the data path around it.
 *
 *   controlnet       d = cond[:, 0, ::8, ::8] (the crop's top-left pixel per latent); res_k = expand(scale *
 *                    (k + 1) * avgpool_f(d)) to [B, R_k, h/f, w/f]
 *   unet             out = 0.5 sample + 0.001 t + ehs[:, 0, 0] + text_embeds[:, 0] + time_ids[:, 0] + sum_k
 *                    nearest_up(res_k[:, 0]); attention_probs = softmax_T(avgpool_4(sample)[:, 0] * w_T)
 *   unet_controlnet  the two above in one graph, crops in-graph (toyworld/onnx/conditionCrops.ts)
 *   text encoders, VAE: cheap closed forms of the contract's shapes
 *
 * The separate and fused components share every op, so both paths give the same bits (the bench checks).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { SDXL_SCHEDULER_CONFIG } from "../src/models/sdxlScheduler";
import { bundleHash, generateToyWorld } from "../src/toyworld/bundle";
import { conditionCrops } from "../src/toyworld/onnx/conditionCrops";
import { Graph } from "../src/toyworld/onnx/graph";

const T = 77;
const C = 4;
const D1 = 768;
const D2 = 1280;
const P = 1280;
const R = [320, 320, 320, 320, 640, 640, 640, 1280, 1280, 1280];
const F = [1, 1, 1, 2, 2, 2, 4, 4, 4, 4];
const RES_IN = [
  ...Array.from({ length: 9 }, (_, k) => `down_block_additional_residual_${k}`),
  "mid_block_additional_residual",
];
const RES_OUT = [...Array.from({ length: 9 }, (_, k) => `down_block_res_sample_${k}`), "mid_block_res_sample"];
const resDims = (k: number) => ["B", R[k], F[k] === 1 ? "h" : `h/${F[k]}`, F[k] === 1 ? "w" : `w/${F[k]}`];

const f32 = (g: Graph, x: string) => g.cast(x, "float");
const f16 = (g: Graph, x: string) => g.cast(x, "float16");

interface Conditioning {
  sample: string;
  timestep: string;
  ehs: string;
  te: string;
  ids: string;
}

function conditioningInputs(g: Graph): Conditioning {
  return {
    sample: g.input("sample", "float16", ["B", C, "h", "w"]),
    timestep: g.input("timestep", "float", [1]),
    ehs: g.input("encoder_hidden_states", "float16", ["B", T, D1 + D2]),
    te: g.input("text_embeds", "float16", ["B", P]),
    ids: g.input("time_ids", "float16", ["B", 6]),
  };
}

/** Residuals (fp16, full size) from the ControlNet's [B, 3, H, W] fp16 input. */
function controlnetBody(g: Graph, cond: string, sample: string, scale: string): string[] {
  const d = f32(
    g,
    g.op("Slice", [cond, g.i64([0, 0, 0]), g.i64([1, 1 << 30, 1 << 30]), g.i64([1, 2, 3]), g.i64([1, 8, 8])]),
  );
  const rows = g.shape(sample, 0, 1);
  const hw = g.shape(sample, 2, 4);
  return R.map((c, k) => {
    const f = F[k];
    const pooled =
      f === 1
        ? d
        : g.op("AveragePool", [d], {
            kernel_shape: { kind: "ints", value: [f, f] },
            strides: { kind: "ints", value: [f, f] },
            ceil_mode: { kind: "int", value: 1 },
          });
    const v = f16(g, g.mul(g.mul(pooled, f32(g, scale)), g.scalar(k + 1)));
    const size = f === 1 ? hw : g.div(g.add(hw, g.i64([f - 1, f - 1])), g.i64([f, f]));
    return g.op("Expand", [v, g.concat([rows, g.i64([c]), size], 0)]);
  });
}

function unetBody(g: Graph, x: Conditioning, residuals: readonly string[]): void {
  const first = (v: string, rank: number) =>
    f32(
      g,
      g.slice(
        v,
        new Array(rank - 1).fill(0),
        new Array(rank - 1).fill(1),
        Array.from({ length: rank - 1 }, (_, i) => i + 1),
      ),
    );
  const row = (v: string, rank: number) => g.reshape(first(v, rank), [-1, 1, 1, 1]);
  let out = g.add(g.scale(f32(g, x.sample), 0.5), g.scale(g.reshape(x.timestep, [1, 1, 1, 1]), 0.001));
  out = g.add(out, g.add(row(x.ehs, 3), g.add(row(x.te, 2), row(x.ids, 2))));
  const rowsOne = g.concat([g.shape(x.sample, 0, 1), g.i64([1]), g.shape(x.sample, 2, 4)], 0);
  residuals.forEach((r, k) => {
    let c0 = f32(g, g.slice(r, [0], [1], [1])); // [B, 1, h/f, w/f]
    if (F[k] !== 1) {
      c0 = g.op("Resize", [c0, "", "", rowsOne], {
        mode: { kind: "string", value: "nearest" },
        coordinate_transformation_mode: { kind: "string", value: "asymmetric" },
        nearest_mode: { kind: "string", value: "floor" },
      });
    }
    out = g.add(out, c0);
  });
  g.output("out_sample", f16(g, out), "float16", ["B", C, "h", "w"]);
  const pooled = g.slice(g.avgPool(f32(g, x.sample), 4), [0], [1], [1]); // [B, 1, h/4, w/4]
  const pix = g.transpose(g.reshape(pooled, g.concat([g.shape(x.sample, 0, 1), g.i64([1, -1])], 0)), [0, 2, 1]);
  const w = g.f32(
    Array.from({ length: T }, (_, t) => Math.sin(t) * 0.5),
    [1, 1, T],
    "att_w",
  );
  g.output("attention_probs", g.softmax(g.mul(pix, w), 2), "float", ["B", "N", T]);
}

function unet(): Uint8Array {
  const g = new Graph("bench_unet");
  const x = conditioningInputs(g);
  unetBody(
    g,
    x,
    RES_IN.map((n, k) => g.input(n, "float16", resDims(k))),
  );
  return g.encode();
}

function controlnet(): Uint8Array {
  const g = new Graph("bench_controlnet");
  const x = conditioningInputs(g);
  const cond = g.input("controlnet_cond", "float16", ["B", 3, "H", "W"]);
  const scale = g.input("conditioning_scale", "float16", [1]);
  controlnetBody(g, cond, x.sample, scale).forEach((r, k) => {
    g.output(RES_OUT[k], r, "float16", resDims(k));
  });
  return g.encode();
}

function fused(): Uint8Array {
  const g = new Graph("bench_unet_controlnet");
  const x = conditioningInputs(g);
  const cond = g.input("controlnet_cond", "float16", [1, 1, "Hc", "Wc"]);
  const boxes = g.input("crop_boxes", "int64", ["V", 2]);
  const scale = g.input("conditioning_scale", "float16", [1]);
  const crops = conditionCrops(g, cond, boxes, x.sample, 8, "float16");
  unetBody(g, x, controlnetBody(g, crops, x.sample, scale));
  return g.encode();
}

function textEncoder(width: number, pooled: boolean): Uint8Array {
  const g = new Graph("bench_text_encoder");
  const ids = g.cast(g.input("input_ids", "int32", ["b", T]), "float");
  const base = g.unsqueeze(g.scale(ids, 1e-5), [2]); // [b, T, 1]
  for (let k = 0; k < 3; k++) {
    const w = g.f32(
      Array.from({ length: width }, (_, j) => Math.cos(j + k) * 0.1),
      [1, 1, width],
      `te${k}`,
    );
    g.output(`hidden_states.${k}`, f16(g, g.mul(base, w)), "float16", ["b", T, width]);
  }
  if (pooled) {
    const w = g.f32(
      Array.from({ length: P }, (_, j) => Math.sin(j) * 0.1),
      [1, P],
      "pool",
    );
    g.output("text_embeds", f16(g, g.mul(g.reduceMean(ids, [1]), w)), "float16", ["b", P]);
  }
  return g.encode();
}

function vaeDecoder(): Uint8Array {
  const g = new Graph("bench_vae_decoder");
  const z = f32(g, g.input("latent_sample", "float16", ["b", C, "h", "w"]));
  const rgb = g.op("Tanh", [g.upsampleNearest(g.slice(z, [0], [3], [1]), 8)]);
  g.output("sample", f16(g, rgb), "float16", ["b", 3, "H", "W"]);
  return g.encode();
}

function vaeEncoder(): Uint8Array {
  const g = new Graph("bench_vae_encoder");
  const x = g.avgPool(f32(g, g.input("sample", "float16", ["b", 3, "H", "W"])), 8);
  g.output("latent_sample", f16(g, g.concat([x, g.reduceMean(x, [1])], 1)), "float16", ["b", C, "h", "w"]);
  return g.encode();
}

/** Writes the bundle into `dir` (tokenizers borrowed from the toy world). */
export async function writeSdxlShapedBundle(dir: string): Promise<void> {
  const files = new Map<string, Uint8Array>();
  for (const [path, bytes] of generateToyWorld().files) if (path.startsWith("tokenizer")) files.set(path, bytes);
  const components = {
    text_encoder: "text_encoder/model.onnx",
    text_encoder_2: "text_encoder_2/model.onnx",
    unet: "unet/model.onnx",
    controlnet: "controlnet/model.onnx",
    unet_controlnet: "unet_controlnet/model.onnx",
    vae_decoder: "vae_decoder/model.onnx",
    vae_encoder: "vae_encoder/model.onnx",
  };
  files.set(components.text_encoder, textEncoder(D1, false));
  files.set(components.text_encoder_2, textEncoder(D2, true));
  files.set(components.unet, unet());
  files.set(components.controlnet, controlnet());
  files.set(components.unet_controlnet, fused());
  files.set(components.vae_decoder, vaeDecoder());
  files.set(components.vae_encoder, vaeEncoder());
  const bundle = {
    format: "accdiff-bundle/2",
    name: "sdxl-shaped-bench",
    version: "1",
    hash: bundleHash(files),
    baseResolution: 1024,
    vaeScaleFactor: 8,
    latentChannels: C,
    vaeScalingFactor: 0.13025,
    dtype: "fp16",
    attentionDivisor: 32,
    textEmbedDim: D1 + D2,
    pooledDim: P,
    maxTokens: T,
    scheduler: SDXL_SCHEDULER_CONFIG,
    controlnet: "canny",
    components: { ...components, tokenizer: "tokenizer", tokenizer_2: "tokenizer_2" },
  };
  files.set("bundle.json", new TextEncoder().encode(`${JSON.stringify(bundle, null, 2)}\n`));
  for (const [path, bytes] of files) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), bytes);
  }
}
