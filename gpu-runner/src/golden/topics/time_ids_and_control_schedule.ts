import { addTimeIds, controlnetKeep, repeatTimeIds, viewTimeIds } from "../../pipeline/timeIds";
import type { View } from "../../pipeline/views";
import { expectClose, expectExact, Mismatch } from "../compare";
import type { GoldenCase, TopicRunner } from "../types";

/** time_ids_and_control_schedule: SDXL add_time_ids per (jitter-padded) view, and controlnet_keep. */
const run: TopicRunner = (c: GoldenCase) => {
  const inp = c.inputs;
  const exp = c.expected;
  if (inp.kind === "add_time_ids") {
    const [oh, ow] = (inp.original_size as number[]).map(Number);
    const [ct, cl] = (inp.crops_coords_top_left as number[]).map(Number);
    const [th, tw] = (inp.target_size as number[]).map(Number);
    const rows = inp.classifier_free_guidance ? 2 : 1;
    const base = repeatTimeIds(addTimeIds(oh, ow, ct, cl, th, tw), rows);
    const views = inp.views as View[];
    expectClose("add_time_ids", base, exp.add_time_ids, c.tolerance, [rows, 6]);
    const perView = viewTimeIds(base, views, Number(inp.vae_scale_factor));
    expectClose("per_view_time_ids", perView, exp.per_view_time_ids, c.tolerance, [rows * views.length, 6]);
    // The dilated branch reuses the uncropped rows for every offset.
    expectClose("dilated_time_ids_per_offset", base, exp.dilated_time_ids_per_offset, c.tolerance, [rows, 6]);
    return;
  }
  if (inp.kind === "controlnet_keep") {
    const n = Number(inp.num_steps);
    const scale = Number(inp.controlnet_conditioning_scale);
    const keep = Array.from({ length: n }, (_, i) =>
      controlnetKeep(i, n, Number(inp.control_guidance_start), Number(inp.control_guidance_end)),
    );
    expectExact("controlnet_keep", keep, exp.controlnet_keep.map(Number));
    expectExact(
      "cond_scale",
      keep.map((k) => scale * k),
      exp.cond_scale.map(Number),
    );
    return;
  }
  throw new Mismatch(`unknown kind ${inp.kind}`);
};

export default run;
