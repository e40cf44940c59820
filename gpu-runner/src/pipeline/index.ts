/**
 * The pipeline's public API: run AccDiffusion v2 over a Models implementation.
 * Everything else in this folder is an implementation detail reachable for tests and tools.
 */
export { type PhaseState, type RunOptions, runAccDiffusion } from "./accdiffusion";
export type { AttentionMap } from "./attention";
export type { PhaseCalls } from "./modelCalls";
export {
  DEFAULT_NEGATIVE_PROMPT,
  InvalidRequestError,
  type PipelineParams,
  type PipelineRequest,
  type RgbImage,
  resolveParams,
} from "./params";
export { type PhasePlan, type PhaseSpec, planPhases, UnsupportedSizeError } from "./phasePlan";
export { abortError, type ProgressEvent, type ProgressListener } from "./progress";
export type { Injection } from "./randomness";
export {
  type CannyResult,
  type ModelCallTotals,
  type PhaseResult,
  type PipelineResult,
  type ResumeState,
  resumeStateAt,
} from "./result";
export { EmbeddingLru, sharedEmbeddingLru } from "./textEncoding";
