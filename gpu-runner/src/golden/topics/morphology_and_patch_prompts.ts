/**
 * Golden topic `morphology_and_patch_prompts`: the reference aggregate_attention and
 * get_multidiffusion_prompts (masks, erode/dilate, jittered attention views, coverage, prompts).
 */
import { REFERENCE_QUIRKS } from "@accdiff/shared";
import type { Tensor } from "../../models/types";
import {
  type AttentionStoreSnapshot,
  aggregateAttentionStore,
  maskIterations,
  tokenMaskStages,
} from "../../pipeline/attention";
import { patchPrompts } from "../../pipeline/patchPrompts";
import { expectClose, expectExact, Mismatch, readF32 } from "../compare";
import { type RecordedRandInt, replayRandInt } from "../replay";
import type { GoldenCase, GoldenTensor, TopicRunner } from "../types";

function readStore(raw: { cur_step: number; layers: Record<string, GoldenTensor[]> }): AttentionStoreSnapshot {
  const layers: Record<string, Tensor[]> = {};
  for (const [key, items] of Object.entries(raw.layers)) {
    layers[key] = items.map((t) => ({ data: readF32(t), shape: t.shape }));
  }
  return { curStep: raw.cur_step, layers };
}

function runAggregate(c: GoldenCase): void {
  const i = c.inputs;
  const map = aggregateAttentionStore(
    readStore(i.attention_store),
    i.num_prompts,
    i.height,
    i.width,
    i.from_where,
    i.is_cross,
    i.select,
  );
  expectClose("attention_maps", map.data, c.expected.attention_maps, c.tolerance, [map.rows, map.cols, map.tokens]);
}

function runPatchPrompts(c: GoldenCase): void {
  const i = c.inputs;
  const e = c.expected;
  const tok = i.tokenizer as { bos: number; eos: number; vocab: Record<string, number> };
  const words: string[] = String(i.prompt).split(/\s+/).filter(Boolean);
  const ids = [tok.bos, ...words.map((w) => tok.vocab[w]), tok.eos];
  expectExact("tokens", ids, e.tokens);
  const decoded = ["<|startoftext|>", ...words, "<|endoftext|>"];

  const map = aggregateAttentionStore(readStore(i.attention_store), 1, i.height, i.width, i.from_where, true, 0);
  expectExact("map_shape", [map.rows, map.cols, map.tokens], e.map_shape);
  expectExact("erode_dilate_iterations", maskIterations(map.rows), e.erode_dilate_iterations);
  const masks: Uint8Array[] = [];
  const means: number[] = [];
  for (let t = 0; t < ids.length; t++) {
    const s = tokenMaskStages(map.data, map.rows, map.cols, map.tokens, t);
    expectExact(`mask_threshold[${t}]`, s.threshold, e.mask_threshold[t]);
    expectExact(`mask_eroded[${t}]`, s.eroded, e.mask_eroded[t]);
    expectExact(`mask_dilated[${t}]`, s.dilated, e.mask_dilated[t]);
    masks.push(s.dilated);
    means.push(s.mean);
  }
  // The means decide every mask pixel, so they are held to the exact float32 (torch's cascade sum).
  expectClose(
    "token_means",
    means,
    (e.token_means as string[]).map((v) => Math.fround(Number(v))),
    { abs: 0, rel: 0 },
  );

  let randInt: ReturnType<typeof replayRandInt> | undefined;
  if (i.random_jitter) {
    const calls: RecordedRandInt[] = [];
    const scales = Object.keys(i.jitter_draws)
      .map(Number)
      .sort((a, b) => a - b);
    for (const s of scales) calls.push(...i.jitter_draws[s].randint_calls);
    randInt = replayRandInt(calls, "jitter_draws");
  }
  const r = patchPrompts({
    masks,
    rows: map.rows,
    cols: map.cols,
    tokens: decoded,
    c: i.threshold_c,
    scaleNum: i.scale_num,
    randInt,
    quirks: REFERENCE_QUIRKS,
  });
  randInt?.assertConsumed();
  for (let s = 2; s <= i.scale_num; s++) {
    expectExact(`view_dict[${s}]`, r.views[s], e.view_dict[s]);
    expectExact(`prompt_dict[${s}]`, r.prompts[s], e.prompt_dict[s]);
    const cov = r.coverage[s];
    const expCov = e.coverage_ratio[s] as number[][];
    expectExact(`coverage_ratio[${s}].length`, cov.length, expCov.length);
    for (let k = 0; k < cov.length; k++) expectClose(`coverage_ratio[${s}][${k}]`, cov[k], expCov[k], c.tolerance);
  }
}

const run: TopicRunner = (c: GoldenCase) => {
  if (c.inputs.function === "aggregate_attention") runAggregate(c);
  else if (c.inputs.function === "get_multidiffusion_prompts") runPatchPrompts(c);
  else throw new Mismatch(`unknown function ${c.inputs.function}`);
};

export default run;
