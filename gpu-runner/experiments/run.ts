/**
 * One run of the experiments: a setting at a seed through the real pipeline, scored against its own low-res phase.
 */
import type { Models } from "../src/models/types";
import { type ProgressListener, runAccDiffusion } from "../src/pipeline/index";
import { type Rgb8Image, type Scores, scoreImages } from "./scores";
import { type ExperimentConfig, requestFor, type Setting } from "./settings";

export interface RunRecord {
  setting: string;
  seed: number;
  scores: Scores;
  /** The final image and the phase-1 (low-res) image it was upscaled from. */
  image: Rgb8Image;
  lowres: Rgb8Image;
  /** Patch prompts of the last phase (empty unless patch prompts drove it), for the report. */
  patchPrompts: string[];
  unetSamples: number;
  seconds: number;
}

export async function runSetting(
  models: Models,
  setting: Setting,
  config: ExperimentConfig,
  seed: number,
  onProgress?: ProgressListener,
): Promise<RunRecord> {
  const t0 = performance.now();
  // No cross-run embedding cache: every run pays for its own text encoding, as a fresh job would.
  const r = await runAccDiffusion(models, requestFor(setting, config, seed), { embeddingCache: null, onProgress });
  const lowres = r.phases[0].image;
  const last = r.phases[r.phases.length - 1];
  return {
    setting: setting.name,
    seed,
    scores: scoreImages(r.image, lowres),
    image: r.image,
    lowres,
    patchPrompts: last.patchPrompts ?? [],
    unetSamples: r.modelCalls.total.unetSamples,
    seconds: (performance.now() - t0) / 1000,
  };
}
