/** Golden topic `canny`: the reference auto_canny (median, thresholds, OpenCV Canny on RGB). */
import { autoCanny } from "../../pipeline/tensor/canny";
import { expectExact } from "../compare";
import type { GoldenCase, TopicRunner } from "../types";

const run: TopicRunner = (c: GoldenCase) => {
  const img = c.inputs.image_rgb_hwc;
  const [h, w] = img.shape as number[];
  const rgb = Uint8Array.from(img.data.map(Number));
  const r = autoCanny(rgb, h, w, Number(c.inputs.sigma));
  expectExact("median", r.median, c.expected.median);
  expectExact("lower", r.lower, c.expected.lower);
  expectExact("upper", r.upper, c.expected.upper);
  let count = 0;
  for (const v of r.edges) if (v !== 0) count++;
  expectExact("edges", r.edges, c.expected.edges);
  expectExact("num_edge_pixels", count, c.expected.num_edge_pixels);
};

export default run;
