/**
 * The toy ControlNet: canny condition -> edge-density residuals with SDXL's block structure
 * (controlSignal.ts). It reads only the condition image: in this world edges say where outlines
 * are, whatever the prompt or the noise level.
 */
import { edgeResiduals } from "./controlSignal";
import { conditionCrops } from "./onnx/conditionCrops";
import { Graph } from "./onnx/graph";
import { residualDims, unetInputs, unetOutputs } from "./unet";
import { D1, D2, LATENT_CHANNELS, MAX_TOKENS, POOLED_DIM, VAE_SCALE_FACTOR } from "./world";

export const CONTROLNET_OUTPUTS = [
  ...Array.from({ length: 9 }, (_, k) => `down_block_res_sample_${k}`),
  "mid_block_res_sample",
];

export function buildControlNet(): Uint8Array {
  const g = new Graph("toyworld_controlnet");
  g.input("sample", "float", ["B", LATENT_CHANNELS, "h", "w"]);
  g.input("timestep", "float", [1]);
  g.input("encoder_hidden_states", "float", ["B", MAX_TOKENS, D1 + D2]);
  g.input("text_embeds", "float", ["B", POOLED_DIM]);
  g.input("time_ids", "float", ["B", 6]);
  const cond = g.input("controlnet_cond", "float", ["B", 3, "H", "W"]);
  const scale = g.input("conditioning_scale", "float", [1]);
  edgeResiduals(g, cond, scale).forEach((res, k) => {
    g.output(CONTROLNET_OUTPUTS[k], res, "float", residualDims(k));
  });
  return g.encode("Toy world ControlNet: edge density of the canny condition in every residual (toyworld/README.md).");
}

/**
 * The fused component: the ControlNet above and the UNet in one graph, the condition cropped in-graph from the
 * phase's padded condition rows (onnx/conditionCrops.ts). The same ops as the two separate models, so the same
 * values: the residuals only stay inside onnxruntime.
 */
export function buildUnetControlNet(): Uint8Array {
  const g = new Graph("toyworld_unet_controlnet");
  const inputs = unetInputs(g);
  const cond = g.input("controlnet_cond", "float", [1, 1, "Hc", "Wc"]);
  const boxes = g.input("crop_boxes", "int64", ["V", 2]);
  const scale = g.input("conditioning_scale", "float", [1]);
  const crops = conditionCrops(g, cond, boxes, inputs.sample, VAE_SCALE_FACTOR);
  unetOutputs(g, inputs, edgeResiduals(g, crops, scale));
  return g.encode("Toy world ControlNet + UNet in one graph (toyworld/README.md, 'The fused component').");
}
