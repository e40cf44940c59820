/**
 * The toy UNet: the posterior-mean denoiser of the world's scene prior, as an epsilon predictor.
 *
 * Scene prior (UNet latent space): the lawn colour everywhere, each object (present with a
 * probability set by the prompt) painted as a box at one of NUM_PLACEMENTS placements, plus
 * Gaussian detail of std tau. Given x_t = x0 + sigma eps, each object's placement posterior is
 * exact for that object alone against whatever else is at each pixel (a softmax over placements
 * of the summed per-pixel log-likelihood ratio, scenePosterior.ts); objects are combined
 * mean-field (two passes, later ones avoiding earlier ones). ControlNet edges favour placements
 * whose outline lies on edges.
 * README.md derives each step.
 */
import { attentionProbs } from "./attentionProbs";
import { readEdgeMap } from "./controlSignal";
import { POOLED_BAG, POOLED_NAMES_ANY } from "./features";
import { Graph } from "./onnx/graph";
import { windowOf } from "./placements";
import { objectMasks } from "./scenePosterior";
import {
  D1,
  D2,
  DENOISER,
  LATENT_CHANNELS,
  MAX_TOKENS,
  NUM_OBJECTS,
  NUM_THINGS,
  OBJECTS,
  POOLED_DIM,
  RESIDUAL_CHANNELS,
  RESIDUAL_FACTORS,
  sigmaTable,
  thingLatents,
} from "./world";

const C = LATENT_CHANNELS;

/** Residual input names in the contract's order (down 0..8, then mid). */
export const RESIDUAL_INPUTS = [
  ...Array.from({ length: 9 }, (_, k) => `down_block_additional_residual_${k}`),
  "mid_block_additional_residual",
];

export function residualDims(k: number): (string | number)[] {
  const f = RESIDUAL_FACTORS[k];
  const hw = f === 1 ? ["h", "w"] : [`h/${f}`, `w/${f}`];
  return ["B", RESIDUAL_CHANNELS[k], ...hw];
}

/** sigma(t) by linear interpolation in the SDXL table (as diffusers' Euler schedule does). */
function sigmaOf(g: Graph, timestep: string): string {
  const table = g.f32(sigmaTable(), [1000], "sigmas");
  const t = g.clip(timestep, 0, 999);
  const lo = g.floor(t);
  const frac = g.sub(t, lo);
  const i0 = g.cast(lo, "int64");
  const i1 = g.min(g.add(i0, g.i64([1])), g.i64([999]));
  const s0 = g.gather(table, i0, 0);
  return g.add(s0, g.mul(g.sub(g.gather(table, i1, 0), s0), frac));
}

/** Presence log-odds per object [B, NUM_OBJECTS] from text_embeds: base + named - omitted. */
function presenceLogits(g: Graph, textEmbeds: string): string {
  const named = g.slice(textEmbeds, [POOLED_BAG], [POOLED_BAG + NUM_OBJECTS], [1]);
  const any = g.slice(textEmbeds, [POOLED_NAMES_ANY], [POOLED_NAMES_ANY + 1], [1]);
  const omitted = g.mul(any, g.sub(g.scalar(1), named));
  return g.add(
    g.shift(g.scale(named, DENOISER.presenceNamed), DENOISER.presenceBase),
    g.scale(omitted, DENOISER.presenceOmitted),
  );
}

/** The conditioning inputs the UNet and the fused ControlNet + UNet share (contract names). */
export interface UnetInputs {
  sample: string;
  timestep: string;
  ehs: string;
  textEmbeds: string;
}

export function unetInputs(g: Graph): UnetInputs {
  const sample = g.input("sample", "float", ["B", C, "h", "w"]);
  const timestep = g.input("timestep", "float", [1]);
  const ehs = g.input("encoder_hidden_states", "float", ["B", MAX_TOKENS, D1 + D2]);
  const textEmbeds = g.input("text_embeds", "float", ["B", POOLED_DIM]);
  g.input("time_ids", "float", ["B", 6]);
  return { sample, timestep, ehs, textEmbeds };
}

export function buildUnet(): Uint8Array {
  const g = new Graph("toyworld_unet");
  const inputs = unetInputs(g);
  const residuals = RESIDUAL_INPUTS.map((name, k) => g.input(name, "float", residualDims(k)));
  unetOutputs(g, inputs, residuals);
  return g.encode(
    "Toy world UNet: epsilon of the posterior-mean denoiser of box scenes on a lawn (see toyworld/README.md).",
  );
}

/** The UNet's graph from its inputs and the 10 residuals: declares `out_sample` and `attention_probs`. */
export function unetOutputs(g: Graph, inputs: UnetInputs, residuals: readonly string[]): void {
  const { sample, timestep, ehs, textEmbeds } = inputs;
  const latents = thingLatents();
  const bg = latents[NUM_THINGS - 1];
  const tau2 = DENOISER.tau ** 2;
  const sigma = sigmaOf(g, timestep);
  const sigma2 = g.mul(sigma, sigma);
  const x = g.mul(sample, g.sqrt(g.shift(sigma2, 1))); // undo scale_model_input
  const variance = g.shift(sigma2, tau2); // of x_t around a template: sigma^2 + tau^2

  // Per-pixel log-likelihood of each thing's colour, up to a term common to all things:
  // (<x, c_k> - |c_k|^2 / 2) / variance, [B, NUM_THINGS, h, w].
  const norm2 = (v: number[]) => v.reduce((s, a) => s + a * a, 0);
  const logLik = g.div(
    g.op("Conv", [
      x,
      g.f32(latents.flat(), [NUM_THINGS, C, 1, 1], "colour_w"),
      g.f32(
        latents.map((c) => -norm2(c) / 2),
        [NUM_THINGS],
        "colour_b",
      ),
    ]),
    variance,
  );
  const delta = OBJECTS.map((_, o) => latents[o].map((v, c) => v - bg[c]));

  const win = windowOf(g, sample);
  const edges = readEdgeMap(g, residuals, sample);
  const presence = presenceLogits(g, textEmbeds);
  const masks = objectMasks(g, { logLik, win, edges, presence });
  let expected = masks[0];
  for (const m of masks.slice(1)) expected = g.add(expected, m);

  // Expected template: lawn plus each object's colour where it is expected; where expected
  // objects overlap beyond 1, they share the pixel.
  const share = g.div(g.scalar(1), g.max(expected, g.scalar(1)));
  const shared = g.mul(
    g.concat(
      masks.map((m) => g.unsqueeze(m, [1])),
      1,
    ),
    g.unsqueeze(share, [1]),
  );
  const paintWeights = new Float32Array(C * NUM_OBJECTS);
  for (let c = 0; c < C; c++) for (let o = 0; o < NUM_OBJECTS; o++) paintWeights[c * NUM_OBJECTS + o] = delta[o][c];
  const template = g.op("Conv", [
    shared,
    g.f32(paintWeights, [C, NUM_OBJECTS, 1, 1], "paint_w"),
    g.f32(bg, [C], "lawn"),
  ]);

  // Gaussian detail around the template: E[x0 | x_t] = m + tau^2 / (tau^2 + sigma^2) (x_t - m).
  const keep = g.div(g.scalar(tau2), variance);
  const x0 = g.add(template, g.mul(keep, g.sub(x, template)));
  const eps = g.div(g.sub(x, x0), sigma);
  g.output("out_sample", eps, "float", ["B", C, "h", "w"]);
  g.output("attention_probs", attentionProbs(g, x0, ehs), "float", ["B", "N", MAX_TOKENS]);
}
