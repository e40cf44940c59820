/**
 * Our pipeline's model evaluations, measured: the real `runAccDiffusion` over zero-cost stand-in models with SDXL's
 * BundleInfo (gpu-runner/bench/zeroModels.ts: base 1024, latent window 128, 32x32 attention maps at the native size),
 * counted by the pipeline's own ModelCaller. The request goes through `toPipelineRequest`, the runner's mapping, so
 * a configuration here is exactly what the API would run.
 *
 * A 50-step job at 4096^2 still does ~30 s of pipeline work, so counts are measured at 1 and 2 steps and extrapolated
 * linearly (evalCounts.ts); a third step count checks the fit.
 */
import type { ResolvedRequest } from "@accdiff/shared";
import { ZeroModels } from "../../gpu-runner/bench/zeroModels";
import { resumeStateAt, runAccDiffusion } from "../../gpu-runner/src/pipeline/index";
import { toPipelineRequest } from "../../gpu-runner/src/runner/requestMapping";
import { fromPhaseCalls, type PhaseCounts } from "./evalCounts";

export interface Measured {
  /** Every phase of the full job. */
  full: PhaseCounts;
  /** What the pipeline says the reference would have spent on encode_prompt, per phase. */
  referenceEncodePromptCalls: Record<number, number>;
  /** Per resumed phase k: the evaluations of the same job resumed after phase k (what a cache resume costs). */
  resumed: Record<number, PhaseCounts>;
}

function countsOf(byPhase: Record<number, Parameters<typeof fromPhaseCalls>[0]>): PhaseCounts {
  const out: PhaseCounts = {};
  for (const [id, c] of Object.entries(byPhase)) out[Number(id)] = fromPhaseCalls(c);
  return out;
}

/** Runs the job at `steps` steps (and resumed after each phase in `resumeAfter`) and returns its counts. */
export async function measureCounts(r: ResolvedRequest, steps: number, resumeAfter: number[] = []): Promise<Measured> {
  const models = new ZeroModels();
  const request = toPipelineRequest({ ...r, steps });
  // No cross-job text cache: every job counts the encodings it needs itself.
  const result = await runAccDiffusion(models, request, { embeddingCache: null });
  const referenceEncodePromptCalls: Record<number, number> = {};
  for (const [id, c] of Object.entries(result.modelCalls.byPhase)) {
    referenceEncodePromptCalls[Number(id)] = c.referenceEncodePromptCalls;
  }
  const resumed: Record<number, PhaseCounts> = {};
  for (const k of resumeAfter) {
    const again = await runAccDiffusion(models, request, { embeddingCache: null, resume: resumeStateAt(result, k) });
    resumed[k] = countsOf(again.modelCalls.byPhase);
  }
  return { full: countsOf(result.modelCalls.byPhase), referenceEncodePromptCalls, resumed };
}
