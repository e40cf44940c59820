/**
 * The Models interface: everything the AccDiffusion pipeline needs from a model bundle.
 *
 * The pipeline (gpu-runner/src/pipeline) sees only this file. `models/onnx` implements it over
 * onnxruntime-node for real SDXL bundles and the generated toy world; tests implement it with
 * closed-form fakes (see ../shared/golden pipeline_trajectory).
 *
 * Conventions: every tensor is float32, row-major (C order), NCHW for images and latents.
 * Latents passed in and out are in the UNet's latent space (already multiplied by the VAE
 * scaling factor); the VAE methods take/return *unscaled* VAE latents, as the ONNX models do:
 * the pipeline divides/multiplies by `info.vaeScalingFactor` itself, like diffusers.
 */

/** A dense float32 tensor. `data.length === shape.reduce((a, b) => a * b, 1)`. */
export interface Tensor {
  readonly data: Float32Array;
  readonly shape: readonly number[];
}

/** The Euler-discrete scheduler configuration stored in bundle.json (diffusers names). */
export interface SchedulerConfig {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: "scaled_linear" | "linear";
  timestepSpacing: "leading" | "trailing" | "linspace";
  stepsOffset: number;
  predictionType: "epsilon";
}

/** What a bundle declares about itself (bundle.json); the pipeline scales its defaults from it. */
export interface BundleInfo {
  name: string;
  version: string;
  /** Content hash of the bundle; part of every cache key. */
  hash: string;
  /** Base (phase-1) resolution in pixels: 1024 for SDXL, 512 for the toy world. */
  baseResolution: number;
  /** Pixels per latent pixel (8). */
  vaeScaleFactor: number;
  /** Latent channels (4). */
  latentChannels: number;
  /** VAE scaling factor (0.13025 for SDXL). */
  vaeScalingFactor: number;
  dtype: "fp16" | "fp32";
  scheduler: SchedulerConfig;
  /** Cross-attention maps have (H / divisor) x (W / divisor) pixels; 32 for SDXL. */
  attentionDivisor: number;
  /** Width of the concatenated penultimate hidden states (2048 for SDXL). */
  textEmbedDim: number;
  /** Width of text_encoder_2's pooled projection (1280 for SDXL). */
  pooledDim: number;
  /** Token sequence length of the text encoders (77). */
  maxTokens: number;
}

/** A prompt tokenized for CLIP: BOS + tokens (cut to maxTokens - 2) + EOS, padded to maxTokens. */
export interface TokenizedPrompt {
  /** Token ids, length maxTokens. */
  ids: Int32Array;
  /** Number of meaningful positions (BOS..EOS inclusive). */
  length: number;
  /** Each meaningful position decoded to text (BOS/EOS as their literal tokens), length `length`. */
  tokens: string[];
  /** True when the prompt had more tokens than fit and was cut. */
  truncated: boolean;
}

/** SDXL text conditioning for one text. */
export interface TextEmbedding {
  /** [maxTokens, textEmbedDim]: penultimate hidden states of both encoders, concatenated. */
  hidden: Float32Array;
  /** [pooledDim]: text_encoder_2's pooled projection. */
  pooled: Float32Array;
}

/** One batched UNet (or ControlNet) evaluation. Rows are independent samples. */
export interface UNetInput {
  /** [B, C, h, w] latent model input (already scaled by scale_model_input). */
  sample: Tensor;
  timestep: number;
  /** [B, maxTokens, textEmbedDim] */
  encoderHiddenStates: Tensor;
  /** [B, pooledDim] */
  textEmbeds: Tensor;
  /** [B, 6]: SDXL add_time_ids (orig h, orig w, crop top, crop left, target h, target w). */
  timeIds: Tensor;
  /** false: the caller needs no attention maps (the models may skip returning them; default true). */
  attention?: boolean;
  /**
   * Where the models may write the noise prediction (at least B*C*h*w floats): a caller that copies the noise into
   * its own buffer anyway saves the copy when `noise.data` comes back as (the start of) this array.
   */
  noiseOut?: Float32Array;
  /** Half-precision room beside the caller's buffers (see HalfStage); models that take float32 ignore it. */
  halfStage?: HalfStage;
  /**
   * The caller's promise that the sample's rows come in equal pairs (rows 2r and 2r + 1: a latent and its
   * classifier-free-guidance twin), so a backend may convert one row of each pair and copy it.
   */
  pairedRows?: boolean;
}

/**
 * Half-precision room beside the caller's buffers, with conversions that work where the data lies (an upscaling
 * phase's memory and its kernels): an fp16 backend narrows the sample into `sample`, lets the model write the noise
 * prediction into `noise` and widens it into `noiseOut`, with no copy in between. Calls larger than the room take the
 * backend's own path.
 */
export interface HalfStage {
  sample: Uint16Array;
  noise: Uint16Array;
  /** float32 -> half bits, round to nearest even (`dst` as long as `src`). */
  toHalf(src: Float32Array, dst: Uint16Array): void;
  /** half bits -> float32, exact (`dst` as long as `src`). */
  fromHalf(src: Uint16Array, dst: Float32Array): void;
}

/** ControlNet residuals (SDXL: 9 down-block residuals and 1 mid-block residual), already scaled. */
export interface ControlResiduals {
  down: Tensor[];
  mid: Tensor;
}

export interface ControlNetInput extends UNetInput {
  /** [B, 3, 8h, 8w] condition image in [0, 1] (canny edges copied to 3 channels). */
  cond: Tensor;
  /** Multiplies every residual (controlnet_conditioning_scale x controlnet_keep). */
  conditioningScale: number;
}

/**
 * The ControlNet condition of one phase, handed to the models once: single channel (the reference's three channels
 * are identical), with `pad` zero pixels around it on every side (the jitter padding of the views' frame). The models
 * may keep whatever they derive from it (a padded half-precision copy) for as long as the object lives: its data must
 * not change after the first call that uses it.
 */
export interface ControlCondition {
  /** [height, width] row-major. */
  readonly data: Float32Array;
  readonly height: number;
  readonly width: number;
  readonly pad: number;
}

/**
 * ControlNet conditioning of one UNet batch: the phase's condition and, per view, where its crop starts in the
 * padded frame (pixels). The crop is `8h x 8w` (the sample's latent size times `vaeScaleFactor`), copied to 3 channels
 * and repeated for the `B / views` consecutive rows of each view (the CFG pair).
 */
export interface ControlRequest {
  condition: ControlCondition;
  /** [views, 2] as (top, left) pairs, pixels in the padded frame. */
  boxes: Int32Array;
  /** Multiplies every residual (controlnet_conditioning_scale x controlnet_keep). */
  conditioningScale: number;
}

export interface UNetOutput {
  /** [B, C, h, w] predicted noise. */
  noise: Tensor;
  /**
   * [B, mapH * mapW, maxTokens] with the grid of `attentionGrid(info, h, w)` (shared attentionGrid.ts: ceil(h/a) x
   * ceil(w/a), a = attentionDivisor / vaeScaleFactor): cross-attention probabilities averaged over heads and over
   * the cross-attention layers of that resolution in the down and up blocks (what the reference's
   * AttentionStore aggregates). Present when the bundle's UNet exports it. Pixel axis row-major.
   */
  attention?: Tensor;
}

/** Everything the pipeline calls. Implementations must be safe to call sequentially many times. */
export interface Models {
  readonly info: BundleInfo;
  tokenize(text: string): TokenizedPrompt;
  encodeText(text: string): Promise<TextEmbedding>;
  unet(input: UNetInput, residuals?: ControlResiduals): Promise<UNetOutput>;
  controlnet(input: ControlNetInput): Promise<ControlResiduals>;
  /**
   * ControlNet + UNet for one batch, the condition cropped from the phase's condition by the models: what
   * `controlnet({...input, cond: crops})` then `unet(input, residuals)` computes, without the crops or the residuals
   * passing through the caller. Optional: `controlledUNet` (controlCrops.ts) does it with those two calls otherwise.
   */
  unetControlled?(input: UNetInput, control: ControlRequest): Promise<UNetOutput>;
  /** [1, C, h, w] unscaled VAE latents -> [1, 3, 8h, 8w] image in [-1, 1]. */
  vaeDecode(latents: Tensor): Promise<Tensor>;
  /** [1, 3, H, W] image in [-1, 1] -> [1, C, H/8, W/8] unscaled VAE latents (distribution mean). */
  vaeEncode(image: Tensor): Promise<Tensor>;
  /** Releases sessions. */
  dispose?(): Promise<void>;
}
