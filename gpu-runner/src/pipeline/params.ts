/**
 * The pipeline's request and its resolved parameters.
 *
 * Every knob of the reference `AccDiffusionv2SDXLPipeline.__call__` has a field here (reference names in the
 * comments) so that each ablation of the paper can be run. Defaults are the reference's recommended run (its README
 * command: every mechanism on, `controlnet_conditioning_scale 0.6`, CLI defaults for the rest), and the sizes that
 * depend on the model (MultiDiffusion window and stride) scale with the bundle: the window is the UNet's native latent
 * size (128 for SDXL, 64 for the 512-px toy world) and the stride half of it, as in the reference (stride 64 / 128).
 */
import { type ReferenceQuirks, referenceQuirks } from "@accdiff/shared";
import type { BundleInfo } from "../models/types";

/** An RGB image, uint8, row-major height x width x 3 (what PNG decoders give). */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** What a caller asks for. Only `prompt`, `width` and `height` are required. */
export interface PipelineRequest {
  prompt: string;
  /** negative_prompt; default the reference CLI's. */
  negativePrompt?: string;
  /** Output size in pixels; multiples of the VAE scale factor (8). */
  width: number;
  height: number;
  /** num_inference_steps (default 50). */
  steps?: number;
  /** Seeds every random stream (initial noise, per-phase noise, jitter, shuffles). Default 42 (reference CLI). */
  seed?: number;
  /** guidance_scale: phase 1 and dilated sampling (default 7.5, what the reference CLI passes). */
  guidanceScale?: number;
  /** multi_guidance_scale: the MultiDiffusion patches (default 7.5). */
  multiGuidanceScale?: number;
  /** cosine_scale_1/2/3: strength of skip residual, dilated sampling, Gaussian filter (3, 1, 1). */
  cosineScale1?: number;
  cosineScale2?: number;
  cosineScale3?: number;
  /** sigma: base sigma of the dilated-sampling Gaussian filter (0.8, reference CLI). */
  sigma?: number;
  /** MultiDiffusion window in latent pixels (the reference's unet sample_size). Default: base resolution / 8. */
  window?: number;
  /** stride in latent pixels. Default window / 2. */
  stride?: number;
  /** view_batch_size: views (and dilated offsets) per model call (16). */
  viewBatchSize?: number;
  /** c: a word is in a patch's prompt when its mask covers >= c of the patch (0.3). */
  patchThreshold?: number;
  /** canny_sigma of auto canny (0.3, reference CLI). */
  cannySigma?: number;
  /** controlnet_conditioning_scale (0.3, reference CLI; its README example uses 0.6), control_guidance_start/end. */
  controlnetConditioningScale?: number;
  controlGuidanceStart?: number;
  controlGuidanceEnd?: number;
  /** use_multidiffusion, use_dilated_sampling, use_guassian, use_skip_residual, use_progressive_upscaling. */
  useMultiDiffusion?: boolean;
  useDilatedSampling?: boolean;
  useGaussian?: boolean;
  useSkipResidual?: boolean;
  useProgressiveUpscaling?: boolean;
  /** shuffle: window interaction between the dilated samples of a batch. */
  shuffle?: boolean;
  /** use_md_prompt: patch-content-aware prompts from the phase-1 cross-attention maps. */
  usePatchPrompts?: boolean;
  /** use_controlnet: canny ControlNet on every patch (the reference calls it only with patch prompts). */
  useControlNet?: boolean;
  /** multi_decoder: tiled VAE decoding for phases above `tiledDecodeAbove` px (2048 in the reference). */
  multiDecoder?: boolean;
  tiledDecodeAbove?: number;
  /**
   * Reproduce the reference's defects bit for bit (the stale scheduler step index; the (map_w, map_h) reshape of
   * non-square attention maps; its phase sizes for non-integer scales; every encode_prompt call counted). Off by
   * default: the default is the corrected behaviour. The golden runner turns it on.
   */
  referenceCompat?: boolean;
  /**
   * image_lr: start from this image instead of generating phase 1 (resized to the phase-1 size when it differs).
   * Unlike the reference, patch prompts still work: the attention maps are probed with the UNet (see imageStart.ts).
   */
  initImage?: RgbImage;
  /** Timesteps at which an uploaded image is probed for attention maps (default 3 spread over the schedule). */
  probeSteps?: number;
}

export interface PipelineParams {
  prompt: string;
  negativePrompt: string;
  width: number;
  height: number;
  steps: number;
  seed: number;
  guidanceScale: number;
  multiGuidanceScale: number;
  cosineScale1: number;
  cosineScale2: number;
  cosineScale3: number;
  sigma: number;
  window: number;
  stride: number;
  viewBatchSize: number;
  patchThreshold: number;
  cannySigma: number;
  controlnetConditioningScale: number;
  controlGuidanceStart: number;
  controlGuidanceEnd: number;
  useMultiDiffusion: boolean;
  useDilatedSampling: boolean;
  useGaussian: boolean;
  useSkipResidual: boolean;
  useProgressiveUpscaling: boolean;
  shuffle: boolean;
  usePatchPrompts: boolean;
  useControlNet: boolean;
  multiDecoder: boolean;
  tiledDecodeAbove: number;
  /** The reference's defects this run reproduces, by name (all on with `referenceCompat`, all off by default). */
  quirks: Readonly<ReferenceQuirks>;
  initImage: RgbImage | undefined;
  probeSteps: number;
}

export const DEFAULT_NEGATIVE_PROMPT = "blurry, ugly, duplicate, poorly drawn, deformed, mosaic";

export class InvalidRequestError extends Error {
  override name = "InvalidRequestError";
}

/** Fills the defaults (scaled to the bundle) and validates what the loop relies on. */
export function resolveParams(info: BundleInfo, r: PipelineRequest): PipelineParams {
  const window = r.window ?? Math.floor(info.baseResolution / info.vaeScaleFactor);
  const p: PipelineParams = {
    prompt: r.prompt,
    negativePrompt: r.negativePrompt ?? DEFAULT_NEGATIVE_PROMPT,
    width: r.width,
    height: r.height,
    steps: r.steps ?? 50,
    seed: r.seed ?? 42,
    guidanceScale: r.guidanceScale ?? 7.5,
    multiGuidanceScale: r.multiGuidanceScale ?? 7.5,
    cosineScale1: r.cosineScale1 ?? 3,
    cosineScale2: r.cosineScale2 ?? 1,
    cosineScale3: r.cosineScale3 ?? 1,
    sigma: r.sigma ?? 0.8,
    window,
    stride: r.stride ?? Math.max(1, Math.floor(window / 2)),
    viewBatchSize: r.viewBatchSize ?? 16,
    patchThreshold: r.patchThreshold ?? 0.3,
    cannySigma: r.cannySigma ?? 0.3,
    controlnetConditioningScale: r.controlnetConditioningScale ?? 0.3,
    controlGuidanceStart: r.controlGuidanceStart ?? 0,
    controlGuidanceEnd: r.controlGuidanceEnd ?? 1,
    useMultiDiffusion: r.useMultiDiffusion ?? true,
    useDilatedSampling: r.useDilatedSampling ?? true,
    useGaussian: r.useGaussian ?? true,
    useSkipResidual: r.useSkipResidual ?? true,
    useProgressiveUpscaling: r.useProgressiveUpscaling ?? true,
    shuffle: r.shuffle ?? true,
    usePatchPrompts: r.usePatchPrompts ?? true,
    useControlNet: r.useControlNet ?? true,
    multiDecoder: r.multiDecoder ?? true,
    tiledDecodeAbove: r.tiledDecodeAbove ?? 2048,
    quirks: referenceQuirks(r.referenceCompat ?? false),
    initImage: r.initImage,
    probeSteps: r.probeSteps ?? 3,
  };
  validate(info, p);
  return p;
}

function validate(info: BundleInfo, p: PipelineParams): void {
  const f = info.vaeScaleFactor;
  const bad = (msg: string) => {
    throw new InvalidRequestError(msg);
  };
  if (typeof p.prompt !== "string") bad("prompt must be a string");
  for (const [k, v] of [
    ["width", p.width],
    ["height", p.height],
  ] as const) {
    if (!Number.isInteger(v) || v <= 0 || v % f !== 0) bad(`${k} must be a positive multiple of ${f}, got ${v}`);
  }
  if (!Number.isInteger(p.steps) || p.steps < 1) bad(`steps must be a positive integer, got ${p.steps}`);
  if (!Number.isInteger(p.seed)) bad(`seed must be an integer, got ${p.seed}`);
  if (!Number.isInteger(p.window) || p.window < 1) bad(`window must be a positive integer, got ${p.window}`);
  if (!Number.isInteger(p.stride) || p.stride < 1 || p.stride > p.window) bad(`stride must be in 1..window`);
  if (!Number.isInteger(p.viewBatchSize) || p.viewBatchSize < 1) bad("viewBatchSize must be a positive integer");
  // The reference needs classifier-free guidance (it indexes the uncond/text halves unconditionally).
  if (!(p.guidanceScale > 1) || !(p.multiGuidanceScale > 1)) bad("guidance scales must be > 1 (CFG is always on)");
  if (!(p.controlGuidanceStart >= 0 && p.controlGuidanceEnd <= 1 && p.controlGuidanceStart <= p.controlGuidanceEnd)) {
    bad("control guidance needs 0 <= start <= end <= 1");
  }
  if (!(p.sigma > 0)) bad("sigma must be > 0");
  if (!(p.patchThreshold >= 0 && p.patchThreshold <= 1)) bad("patchThreshold must be in [0, 1]");
  if (!Number.isInteger(p.probeSteps) || p.probeSteps < 1) bad("probeSteps must be a positive integer");
  const img = p.initImage;
  if (img && (img.data.length !== img.width * img.height * 3 || img.width < 1 || img.height < 1)) {
    bad("initImage must be width*height*3 uint8 RGB");
  }
}
