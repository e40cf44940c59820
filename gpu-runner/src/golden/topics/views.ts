import { getAttentionViews, getViews, jitterRange, type View } from "../../pipeline/views";
import { expectExact, Mismatch } from "../compare";
import { replayRandInt } from "../replay";
import type { GoldenCase, TopicRunner } from "../types";

/**
 * views: pipeline.get_views (pixels floor-divided by the VAE factor) and utils.get_views (float stride),
 * without and with jitter; jittered cases replay the recorded Python randint calls.
 */
const run: TopicRunner = (c: GoldenCase) => {
  const inp = c.inputs;
  const exp = c.expected;
  const window = Number(inp.window_size);
  const stride = Number(inp.stride);
  let height = Number(inp.height);
  let width = Number(inp.width);
  let tile: typeof getViews;
  if (inp.function === "pipeline.get_views") {
    const vae = Number(inp.vae_scale_factor);
    height = Math.floor(height / vae);
    width = Math.floor(width / vae);
    expectExact("latent_height", height, inp.latent_height);
    expectExact("latent_width", width, inp.latent_width);
    tile = getViews;
  } else if (inp.function === "utils.get_views") {
    tile = getAttentionViews;
  } else {
    throw new Mismatch(`unknown function ${inp.function}`);
  }

  if (!inp.random_jitter) {
    const views = tile(height, width, window, stride);
    expectExact("views", views, exp.views);
    expectExact("num_views", views.length, exp.num_views);
    return;
  }

  const rand = replayRandInt(exp.randint_calls, "randint_calls");
  const views = tile(height, width, window, stride, rand);
  rand.assertConsumed();
  const range = jitterRange(window, stride);
  expectExact("views", views, exp.views);
  expectExact("num_views", views.length, exp.num_views);
  expectExact("jitter_range", range, Number(exp.jitter_range));
  const plain = tile(height, width, window, stride);
  expectExact("unjittered_views", plain, exp.unjittered_views);
  const offset = (a: View[], b: View[], axis: 0 | 2) => a.map((v, k) => v[axis] - b[k][axis] - range);
  expectExact("h_jitter", offset(views, plain, 0), exp.h_jitter);
  expectExact("w_jitter", offset(views, plain, 2), exp.w_jitter);
};

export default run;
