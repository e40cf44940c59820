/**
 * Size sweep, upscale: the generate sweep's shapes at other long sides (sizeSweep.ts, offset 1), each from an upload
 * of an odd size whose aspect is close to, not exactly, the target's (phones' photos are not on the latent grid),
 * rendered end to end on the toy world at a 128-px base with 2 steps (harness.ts).
 */
import { sweepSizes } from "@accdiff/shared";
import { afterAll, beforeAll, describe, it } from "vitest";
import type { OnnxModels } from "../models/index";
import type { Models } from "../models/types";
import { EmbeddingLru, loadSweepModels, renderAndCheck, SWEEP_LIMITS, type SweepCase } from "./harness";

const cases: SweepCase[] = sweepSizes(SWEEP_LIMITS, 2, 1).map((s) => ({
  ...s,
  upload: { width: Math.max(1, Math.round(s.width * 0.47)), height: Math.max(1, Math.round(s.height * 0.53)) },
}));

let onnx: OnnxModels;
let models: Models;
const cache = new EmbeddingLru();
beforeAll(async () => {
  ({ onnx, models } = await loadSweepModels());
}, 120_000);
afterAll(async () => {
  await onnx?.dispose();
});

describe("size sweep: upscale", () => {
  it.each(cases.map((c) => [`${c.upload?.width}x${c.upload?.height} -> ${c.width}x${c.height} ${c.ratio}`, c]))(
    "%s",
    async (_, c) => {
      await renderAndCheck(models, c as SweepCase, cache);
    },
  );
});
