/**
 * The experiments' central claim, small and fast: on the toy world (real ONNX models, CPU), the identical prompt on
 * every window repeats objects and patch-content-aware prompts do not. 1024^2 (2x), 8 steps, one seed.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadOnnxModels, type OnnxModels } from "../src/models/index";
import { ensureToyWorld } from "../src/toyworld/index";
import { runSetting } from "./run";
import { type ExperimentConfig, findSetting } from "./settings";

const config: ExperimentConfig = {
  prompt: "a cat and a dog are playing on the lawn",
  size: 1024,
  steps: 8,
  seeds: [1],
};

describe("experiments: identical prompts vs patch prompts", () => {
  let models: OnnxModels;
  beforeAll(async () => {
    models = await loadOnnxModels(await ensureToyWorld(), { provider: "cpu" });
  });
  afterAll(async () => {
    await models?.dispose();
  });

  it("the identical prompt repeats objects; patch prompts keep the low-res instances", async () => {
    const identical = await runSetting(models, findSetting("identical-prompts"), config, 1);
    const patches = await runSetting(models, findSetting("patch-prompts"), config, 1);
    // Same phase 1 (same seed): the two differ only in the windows' prompts.
    expect(Buffer.compare(identical.lowres.data, patches.lowres.data)).toBe(0);
    expect(identical.scores.repetition).toBeGreaterThan(0);
    expect(patches.scores.repetition).toBe(0);
    expect(patches.scores.repetition).toBeLessThan(identical.scores.repetition);
    // Patch prompts name only what the attention maps found in each window: some windows are lawn alone.
    expect(patches.patchPrompts.length).toBeGreaterThan(0);
    expect(patches.patchPrompts.some((p) => !/\b(cat|dog)\b/.test(p))).toBe(true);
  });
});
