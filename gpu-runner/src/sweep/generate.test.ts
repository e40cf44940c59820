/**
 * Size sweep, generate: every shape from 4:1 to 1:4 (3:2, 4:3, 16:9, 9:16 and 1:1 among them, both orientations) at
 * long sides from the base to the API's maximum, odd-latent sides included, drawn from the API's own size rule
 * (shared sizeSweep.ts), rendered end to end on the toy world at a 128-px base with 2 steps (harness.ts).
 */
import { sweepSizes } from "@accdiff/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { OnnxModels } from "../models/index";
import type { Models } from "../models/types";
import { EmbeddingLru, loadSweepModels, renderAndCheck, SWEEP_LIMITS, type SweepCase } from "./harness";

const sizes = sweepSizes(SWEEP_LIMITS, 3, 0);
// Without progressive upscaling the plan jumps from phase 1 to the last scale: a few shapes of each kind.
const direct: SweepCase[] = sizes.filter((_, i) => i % 6 === 4).map((s) => ({ ...s, progressive: false }));
const cases: SweepCase[] = [...sizes, ...direct];

let onnx: OnnxModels;
let models: Models;
const cache = new EmbeddingLru();
beforeAll(async () => {
  ({ onnx, models } = await loadSweepModels());
}, 120_000);
afterAll(async () => {
  await onnx?.dispose();
});

describe("size sweep: generate", () => {
  it("covers the domain's corners", () => {
    const longs = sizes.map((s) => Math.max(s.width, s.height));
    expect(Math.min(...longs)).toBe(SWEEP_LIMITS.baseResolution);
    expect(Math.max(...longs)).toBe(SWEEP_LIMITS.maxSide);
    expect(sizes.some((s) => s.width === s.height * SWEEP_LIMITS.maxAspect)).toBe(true);
    expect(sizes.some((s) => s.height === s.width * SWEEP_LIMITS.maxAspect)).toBe(true);
  });

  it.each(cases.map((c) => [`${c.width}x${c.height} ${c.ratio}${c.progressive === false ? " direct" : ""}`, c]))(
    "%s",
    async (_, c) => {
      await renderAndCheck(models, c as SweepCase, cache);
    },
  );
});
