/**
 * The public request (shared `ResolvedRequest`, what the API and the CLI validate) -> the pipeline's request.
 * Every method parameter and every ablation switch has exactly one place here; the names differ because the pipeline
 * keeps the reference's vocabulary (use_md_prompt, shuffle, ...) while the API uses the paper's.
 */
import type { ResolvedRequest } from "@accdiff/shared";
import type { PipelineRequest, RgbImage } from "../pipeline/index";

/** The reference switch each API switch drives. */
export const SWITCH_TO_PIPELINE = {
  progressiveUpscaling: "useProgressiveUpscaling",
  skipResidual: "useSkipResidual",
  multidiffusion: "useMultiDiffusion",
  dilatedSampling: "useDilatedSampling",
  gaussian: "useGaussian",
  patchPrompts: "usePatchPrompts",
  // Window interaction is the reference's `shuffle` of dilated samples across a view batch.
  windowInteraction: "shuffle",
  controlnet: "useControlNet",
} as const satisfies Record<keyof ResolvedRequest["switches"], keyof PipelineRequest>;

/**
 * Maps a resolved request onto the pipeline. `initImage` is the decoded user image when `r.image` is set (the
 * reference's image_lr path). A null stride leaves the pipeline's default: half of the bundle's latent window.
 */
export function toPipelineRequest(r: ResolvedRequest, initImage?: RgbImage): PipelineRequest {
  if (r.image && !initImage) throw new Error("the request names an input image but none was given");
  const out: PipelineRequest = {
    prompt: r.prompt,
    negativePrompt: r.negativePrompt,
    width: r.width,
    height: r.height,
    steps: r.steps,
    seed: r.seed,
    guidanceScale: r.guidanceScale,
    multiGuidanceScale: r.multiGuidanceScale,
    cosineScale1: r.cosineScale1,
    cosineScale2: r.cosineScale2,
    cosineScale3: r.cosineScale3,
    sigma: r.sigma,
    viewBatchSize: r.viewBatchSize,
    patchThreshold: r.c,
    cannySigma: r.cannySigma,
    controlnetConditioningScale: r.controlnetConditioningScale,
    controlGuidanceStart: r.controlGuidanceStart,
    controlGuidanceEnd: r.controlGuidanceEnd,
    referenceCompat: r.referenceCompat,
  };
  if (r.stride !== null) out.stride = r.stride;
  for (const k of Object.keys(SWITCH_TO_PIPELINE) as (keyof typeof SWITCH_TO_PIPELINE)[]) {
    out[SWITCH_TO_PIPELINE[k]] = r.switches[k];
  }
  if (initImage) out.initImage = initImage;
  return out;
}
