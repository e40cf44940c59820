/**
 * The fused component's condition crops, in-graph (docs/model-bundle.md, `unet_controlnet`): from the rows of the
 * phase's zero-padded single-channel condition that a batch needs (`controlnet_cond` [1, 1, Hc, Wc]) and one
 * (top, left) per view (`crop_boxes` [V, 2], pixels), the ControlNet's `[B, 3, 8h, 8w]` input: a Loop slices each
 * view's crop at its dynamic start, then one Expand copies it to 3 channels and to the view's B / V rows (the CFG
 * pair). What `cropBoxes` (models/controlCrops.ts) builds on the host, value for value: the ops only copy.
 */
import { attr, type ElemType, Graph } from "./graph";

/** `[B, 3, k*h, k*w]` crops for `sample` [B, C, h, w]; `boxes` int64 [V, 2]. */
export function conditionCrops(
  g: Graph,
  cond: string,
  boxes: string,
  sample: string,
  vaeScale: number,
  type: ElemType = "float",
): string {
  const cond2d = g.squeeze(cond, [0, 1]); // [Hc, Wc]
  const size = g.mul(g.shape(sample, 2, 4), g.i64([vaeScale])); // [ph, pw]
  const views = g.shape(boxes, 0, 1); // [V]
  const trips = g.squeeze(views, [0]);

  // Loop body: (i, keepGoing) -> (keepGoing, crop i); reads boxes, cond2d and size from the outer graph.
  const body = new Graph("crop_view", "crop_");
  const i = body.input("crop_i", "int64", []);
  const go = body.input("crop_go", "bool", []);
  const start = body.gather(boxes, i, 0); // [2]
  const crop = body.op("Slice", [cond2d, start, body.add(start, size), body.i64([0, 1])]);
  body.output("crop_go_out", go, "bool", []);
  body.output("crop_out", crop, type, ["ph", "pw"]);
  const [crops] = g.opN("Loop", [trips, ""], 1, { body: attr.graph(body) }); // [V, ph, pw]

  const rows = g.shape(sample, 0, 1); // [B]
  const perView = g.div(rows, views);
  const target = g.concat([views, perView, g.i64([3]), size], 0); // [V, B/V, 3, ph, pw]
  const expanded = g.op("Expand", [g.unsqueeze(crops, [1, 2]), target]);
  return g.reshape(expanded, g.concat([rows, g.i64([3]), size], 0));
}
