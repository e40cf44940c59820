/**
 * Issue 3's "Done when", on the product path: the toy-world bundle through onnxruntime-node (CPU) and the real
 * pipeline (`runAccDiffusion`, a 1-phase plan at the 512-px base size, patch prompts on). Everything is checked on
 * the pipeline's OWN outputs: the decoded image shows both named objects, and the per-token masks the pipeline
 * builds for patch prompts (`tokenMasks` of `result.attention`: > mean, erode, dilate) overlap each object's pixels.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadOnnxModels, type OnnxModels } from "../models/index";
import { runAccDiffusion } from "../pipeline/accdiffusion";
import { tokenMasks } from "../pipeline/attention";
import { ensureToyWorld } from "../toyworld/index";
import { areaOf, imageClasses, maskIoU, thingOf } from "./testing/toyWorldScenes";

const PROMPT = "a cat and a dog on a lawn";

let models: OnnxModels;
beforeAll(async () => {
  models = await loadOnnxModels(await ensureToyWorld(), { provider: "cpu" });
}, 120_000);
afterAll(async () => {
  await models?.dispose();
});

describe("phase 1 of the real pipeline on the toy world (onnxruntime-node, cpu)", () => {
  for (const seed of [1, 2, 3, 42]) {
    it(`seed ${seed}: draws a cat and a dog, and the pipeline's masks for "cat" and "dog" find them (IoU >= 0.5)`, async () => {
      const r = await runAccDiffusion(
        models,
        { prompt: PROMPT, width: 512, height: 512, steps: 30, seed, usePatchPrompts: true },
        { embeddingCache: null },
      );
      expect(r.phases.map((p) => [p.id, p.kind])).toEqual([[1, "generate"]]);
      expect([r.image.width, r.image.height]).toEqual([512, 512]);

      const classes = imageClasses(r.image);
      expect(areaOf(classes, thingOf("cat")), "cat drawn").toBeGreaterThan(0.02);
      expect(areaOf(classes, thingOf("dog")), "dog drawn").toBeGreaterThan(0.02);
      expect(areaOf(classes, thingOf("lawn")), "on the lawn").toBeGreaterThan(0.5);
      expect(areaOf(classes, thingOf("ball")) + areaOf(classes, thingOf("tree")), "nothing unnamed").toBe(0);

      // The masks exactly as planPatchPrompts builds them: every token position of the prompt, BOS .. EOS.
      const a = r.attention;
      if (!a) throw new Error("the pipeline returned no attention maps");
      expect([a.rows, a.cols]).toEqual([16, 16]);
      const masks = tokenMasks(a.data, a.rows, a.cols, a.tokens, r.tokens.length);
      for (const word of ["cat", "dog"]) {
        const k = r.tokens.indexOf(word);
        expect(k, `token "${word}"`).toBeGreaterThan(0);
        const iou = maskIoU(masks[k], a.rows, a.cols, classes, 512, 512, thingOf(word));
        expect(iou, `${word} mask vs ${word} pixels`).toBeGreaterThanOrEqual(0.5);
      }
      // And the masks are the objects', not the scene's: the cat's mask does not find the dog.
      const cat = masks[r.tokens.indexOf("cat")];
      expect(maskIoU(cat, a.rows, a.cols, classes, 512, 512, thingOf("dog"))).toBeLessThan(0.1);
    });
  }
});
