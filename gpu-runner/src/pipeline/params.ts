/**
 * The pipeline's request and its resolved parameters.
 *
 * Every knob of the reference `AccDiffusionv2SDXLPipeline.__call__` has a field here (reference names in the
 * comments) so that each ablation of the paper can be run. Defaults are the API's (shared parameters.ts: the
 * reference CLI's, every mechanism on), and the sizes that depend on the model (MultiDiffusion window and stride)
 * scale with the bundle: the window is the UNet's native latent size (128 for SDXL, 64 for the 512-px toy world) and
 * the stride half of it, as in the reference (stride 64 / 128).
 */
import { pipelineDefaults, type ReferenceQuirks, referenceQuirks } from "@accdiff/shared";
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

type TableDefaulted =
  | "negativePrompt"
  | "steps"
  | "guidanceScale"
  | "multiGuidanceScale"
  | "cosineScale1"
  | "cosineScale2"
  | "cosineScale3"
  | "sigma"
  | "viewBatchSize"
  | "patchThreshold"
  | "cannySigma"
  | "controlnetConditioningScale"
  | "controlGuidanceStart"
  | "controlGuidanceEnd"
  | "useMultiDiffusion"
  | "useDilatedSampling"
  | "useGaussian"
  | "useSkipResidual"
  | "useProgressiveUpscaling"
  | "shuffle"
  | "usePatchPrompts"
  | "useControlNet"
  | "referenceCompat";

/**
 * The API's defaults (shared parameters.ts) under the pipeline's names: one declaration for both. The pipeline adds
 * only the defaults that scale with the bundle (window, stride) and its own knobs: the seed of a call without one
 * (42, the reference CLI's; the API draws one), tiled decoding and the probe steps of an uploaded image.
 */
const TABLE_DEFAULTS = pipelineDefaults() as Required<Pick<PipelineRequest, TableDefaulted>>;

export const DEFAULT_NEGATIVE_PROMPT = TABLE_DEFAULTS.negativePrompt;

export class InvalidRequestError extends Error {
  override name = "InvalidRequestError";
}

/** Fills the defaults (scaled to the bundle) and validates what the loop relies on. */
export function resolveParams(info: BundleInfo, r: PipelineRequest): PipelineParams {
  const window = r.window ?? Math.floor(info.baseResolution / info.vaeScaleFactor);
  const d = TABLE_DEFAULTS;
  const p: PipelineParams = {
    prompt: r.prompt,
    negativePrompt: r.negativePrompt ?? d.negativePrompt,
    width: r.width,
    height: r.height,
    steps: r.steps ?? d.steps,
    seed: r.seed ?? 42,
    guidanceScale: r.guidanceScale ?? d.guidanceScale,
    multiGuidanceScale: r.multiGuidanceScale ?? d.multiGuidanceScale,
    cosineScale1: r.cosineScale1 ?? d.cosineScale1,
    cosineScale2: r.cosineScale2 ?? d.cosineScale2,
    cosineScale3: r.cosineScale3 ?? d.cosineScale3,
    sigma: r.sigma ?? d.sigma,
    window,
    stride: r.stride ?? Math.max(1, Math.floor(window / 2)),
    viewBatchSize: r.viewBatchSize ?? d.viewBatchSize,
    patchThreshold: r.patchThreshold ?? d.patchThreshold,
    cannySigma: r.cannySigma ?? d.cannySigma,
    controlnetConditioningScale: r.controlnetConditioningScale ?? d.controlnetConditioningScale,
    controlGuidanceStart: r.controlGuidanceStart ?? d.controlGuidanceStart,
    controlGuidanceEnd: r.controlGuidanceEnd ?? d.controlGuidanceEnd,
    useMultiDiffusion: r.useMultiDiffusion ?? d.useMultiDiffusion,
    useDilatedSampling: r.useDilatedSampling ?? d.useDilatedSampling,
    useGaussian: r.useGaussian ?? d.useGaussian,
    useSkipResidual: r.useSkipResidual ?? d.useSkipResidual,
    useProgressiveUpscaling: r.useProgressiveUpscaling ?? d.useProgressiveUpscaling,
    shuffle: r.shuffle ?? d.shuffle,
    usePatchPrompts: r.usePatchPrompts ?? d.usePatchPrompts,
    useControlNet: r.useControlNet ?? d.useControlNet,
    multiDecoder: r.multiDecoder ?? true,
    tiledDecodeAbove: r.tiledDecodeAbove ?? 2048,
    quirks: referenceQuirks(r.referenceCompat ?? d.referenceCompat),
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
