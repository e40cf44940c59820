/**
 * What a job returns, and the state a later job can resume from.
 */
import type { AttentionMap } from "./attention";
import type { PhaseCalls } from "./modelCalls";
import type { PipelineParams, RgbImage } from "./params";
import type { PhasePlan, PhaseSpec } from "./phasePlan";
import type { View } from "./views";

export interface CannyResult {
  /** height*width, 0 or 255. */
  edges: Uint8Array;
  width: number;
  height: number;
  median: number;
  lower: number;
  upper: number;
}

export interface PhaseResult {
  /** Phase key (0 = encoded input image, 1 = generated base phase, s = upscaling at scale s). */
  id: number;
  kind: "generate" | "encode" | "upscale";
  spec: PhaseSpec;
  /** The phase's output latents [1, C, h, w]: renormalised to phase 1's statistics for upscaling phases. */
  latents: Float32Array;
  /** The decoded image, uint8 RGB HWC. */
  image: RgbImage;
  /** auto_canny of the image (when the ControlNet is used; the last phase's is computed too, like the reference). */
  canny?: CannyResult;
  /** The windows (latent, padded frame) and their prompts, when patch prompts drove this phase. */
  patchViews?: View[];
  patchPrompts?: string[];
  calls: PhaseCalls;
  timings: { totalMs: number; modelMs: number };
}

export interface ModelCallTotals {
  unetCalls: number;
  unetSamples: number;
  controlnetCalls: number;
  controlnetSamples: number;
  encodeTextCalls: number;
  referenceEncodePromptCalls: number;
  vaeDecodeCalls: number;
  vaeEncodeCalls: number;
}

export interface PipelineResult {
  /** The final image (exactly width x height unless the integerMultipleSizes quirk gives the reference's). */
  image: RgbImage;
  phases: PhaseResult[];
  plan: PhasePlan;
  params: PipelineParams;
  /** Phase 1's latent mean and unbiased std, the target of every renormalisation. */
  anchor: { mean: number; std: number };
  /** Step-averaged cross-attention of the prompt (phase 1, or probed from the input image). */
  attention?: AttentionMap;
  /** The prompt's tokens as the tokenizer decoded them (BOS and EOS included). */
  tokens: string[];
  /** Patch prompts per upscaling phase id. */
  patchPrompts: Record<number, string[]>;
  /** Windows of the attention-map tiling per scale (golden `attention_views`), when the reference geometry was used. */
  attentionViews: Record<number, View[]>;
  modelCalls: { byPhase: Record<number, PhaseCalls>; total: ModelCallTotals };
  timings: {
    totalMs: number;
    /** Time inside model calls. */
    modelMs: number;
    /** Everything else: the pipeline's own work. */
    pipelineMs: number;
    denoisingSteps: number;
    /** pipelineMs / denoisingSteps. */
    pipelineMsPerStep: number;
  };
  warnings: string[];
}

/**
 * A completed phase to resume from. With the same request (and seed), resuming gives output bit-identical to the
 * uninterrupted run: every later draw comes from per-phase streams, and patch prompts are re-derived from the
 * attention maps.
 */
export interface ResumeState {
  /** Id of the completed phase (a base phase id or an upscaling phase id of the same plan). */
  phaseId: number;
  /** Its output latents [1, C, h, w] (PhaseResult.latents). */
  latents: Float32Array;
  /** Its decoded image (the ControlNet condition of the next phase comes from it). */
  image: RgbImage;
  /** Phase 1's aggregated attention, needed when patch prompts are on. */
  attention?: AttentionMap;
  /** Phase 1's latent statistics. */
  anchor: { mean: number; std: number };
}

/** The resume state after phase `phaseId` of a finished result. */
export function resumeStateAt(result: PipelineResult, phaseId: number): ResumeState {
  const ph = result.phases.find((p) => p.id === phaseId);
  if (!ph) throw new RangeError(`no phase ${phaseId} in this result`);
  return {
    phaseId,
    latents: ph.latents,
    image: ph.image,
    attention: result.attention,
    anchor: result.anchor,
  };
}

export function totals(byPhase: Iterable<PhaseCalls>): ModelCallTotals {
  const t: ModelCallTotals = {
    unetCalls: 0,
    unetSamples: 0,
    controlnetCalls: 0,
    controlnetSamples: 0,
    encodeTextCalls: 0,
    referenceEncodePromptCalls: 0,
    vaeDecodeCalls: 0,
    vaeEncodeCalls: 0,
  };
  for (const c of byPhase) {
    t.unetCalls += c.unetBatchSizes.length;
    for (const b of c.unetBatchSizes) t.unetSamples += b;
    t.controlnetCalls += c.controlnetBatchSizes.length;
    for (const b of c.controlnetBatchSizes) t.controlnetSamples += b;
    t.encodeTextCalls += c.encodeTextCalls;
    t.referenceEncodePromptCalls += c.referenceEncodePromptCalls;
    t.vaeDecodeCalls += c.vaeDecodeCalls;
    t.vaeEncodeCalls += c.vaeEncodeCalls;
  }
  return t;
}
