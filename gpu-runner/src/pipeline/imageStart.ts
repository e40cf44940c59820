/**
 * Starting from the caller's image instead of generating phase 1 (the reference's image_lr): the image is encoded
 * by the VAE and becomes the low-resolution result the upscaling phases build on.
 *
 * Beyond the reference, which has no attention maps in this case and therefore no patch prompts, we probe them: the
 * encoded latents are noised to a few timesteps of the schedule and the UNet is run with the prompt; its
 * conditioned cross-attention, averaged over the probes, plays the role of phase 1's averaged maps. Uploads thus get
 * patch-content-aware prompts too.
 *
 * Deviations: the reference samples the VAE's latent distribution; the Models interface returns its mean, so the
 * start is deterministic. An image of another size than the base phase is resized first (bicubic in pixel space).
 */

import { attentionGrid } from "@accdiff/shared";
import type { AttentionAccumulator, AttentionMap } from "./attention";
import { newAccumulator } from "./basePhase";
import { decodeLatents, fromRgbU8 } from "./decode";
import { type JobContext, phaseTimeIds } from "./job";
import type { RgbImage } from "./params";
import { cfgModelInput } from "./sampling";
import { addNoise, modelInputDivisor } from "./scheduler";
import { bicubicResize } from "./tensor/bicubic";

const f = Math.fround;

export interface ImageStartOutput {
  latents: Float32Array;
  /** The encoded image decoded again (what the reference shows as the first image and takes the canny of). */
  image: RgbImage;
  attention?: AttentionMap;
}

export async function startFromImage(ctx: JobContext, img: RgbImage): Promise<ImageStartOutput> {
  const { info, plan, caller, params } = ctx;
  const phase = plan.base;
  caller.setPhase(phase.id);
  const H = phase.latentHeight * info.vaeScaleFactor;
  const W = phase.latentWidth * info.vaeScaleFactor;
  let pixels = fromRgbU8(img);
  if (img.height !== H || img.width !== W) {
    ctx.warnings.push(`input image ${img.width}x${img.height} resized to the base phase's ${W}x${H}`);
    pixels = bicubicResize(pixels, 3, img.height, img.width, H, W);
    for (let k = 0; k < pixels.length; k++) pixels[k] = Math.min(1, Math.max(-1, pixels[k]));
  }
  const enc = await caller.vaeEncode({ data: pixels, shape: [1, 3, H, W] });
  const scaling = f(info.vaeScalingFactor);
  const latents = new Float32Array(enc.data.length);
  for (let k = 0; k < latents.length; k++) latents[k] = f(enc.data[k] * scaling);
  const [, , h, w] = enc.shape;
  if (h !== phase.latentHeight || w !== phase.latentWidth) {
    throw new RangeError(
      `the VAE encoded ${H}x${W} to ${h}x${w} latents, expected ${phase.latentHeight}x${phase.latentWidth}`,
    );
  }
  const image = await decodeLatents(ctx, latents, h, w, H, W);
  const attention = params.usePatchPrompts ? await probeAttention(ctx, latents, h, w) : undefined;
  return { latents, image, attention };
}

/**
 * The probe: `probeSteps` timesteps spread over the middle of the schedule (indices (k+1)*n/(probes+1)), where the
 * layout is decided and cross-attention is most spatial; one fixed noise draw (stream "probe") for all of them.
 */
async function probeAttention(
  ctx: JobContext,
  latents: Float32Array,
  h: number,
  w: number,
): Promise<AttentionMap | undefined> {
  const { info, params, schedule, caller } = ctx;
  const C = info.latentChannels;
  const per = C * h * w;
  const n = schedule.timesteps.length;
  const noise = ctx.random.probeNoise(per);
  const noised = new Float32Array(per);
  const modelIn = new Float32Array(2 * per);
  const cond = await ctx.conditioning.batch(params.negativePrompt, [params.prompt]);
  const timeIds = { data: phaseTimeIds(ctx, { ...ctx.plan.base, latentHeight: h, latentWidth: w }), shape: [2, 6] };
  const grid = attentionGrid(ctx.info, h, w);
  let acc: AttentionAccumulator | null | undefined;
  const probes = Math.min(params.probeSteps, n);
  for (let k = 0; k < probes; k++) {
    const idx = Math.min(n - 1, Math.floor(((k + 1) * n) / (probes + 1)));
    const sigma = schedule.sigmas[idx];
    addNoise(latents, noise, sigma, noised);
    cfgModelInput(noised, 1, per, modelInputDivisor(sigma), modelIn);
    const out = await caller.unet({
      sample: { data: modelIn, shape: [2, C, h, w] },
      timestep: schedule.timesteps[idx],
      encoderHiddenStates: cond.encoderHiddenStates,
      textEmbeds: cond.textEmbeds,
      timeIds,
    });
    if (!out.attention) break;
    acc ??= newAccumulator(ctx, grid, out.attention.shape);
    if (!acc) return undefined;
    acc.add(out.attention, 1);
  }
  if (!acc) {
    ctx.warnings.push("the UNet exports no cross-attention maps: patch prompts fall back to the full prompt");
    return undefined;
  }
  return acc.result();
}
