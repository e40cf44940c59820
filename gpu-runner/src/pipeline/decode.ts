/**
 * From latents to the phase's image: divide by the VAE scaling factor, decode (tiled above the reference's 2048-px
 * threshold, with diffusers' blending), and post-process like diffusers' VaeImageProcessor to uint8 RGB.
 */
import type { JobContext } from "./job";
import type { RgbImage } from "./params";
import { tiledDecode, vaeTilingFor } from "./tiledDecode";

const f = Math.fround;

/**
 * Decodes [1, C, h, w] UNet-space latents. `pixelHeight/Width` is the reference's current_height/width, which decides
 * tiling (`> tiledDecodeAbove` on either side); `multiDecoder: false` always decodes whole.
 */
export async function decodeLatents(
  ctx: JobContext,
  latents: Float32Array,
  h: number,
  w: number,
  pixelHeight: number,
  pixelWidth: number,
): Promise<RgbImage> {
  const { info, params, caller } = ctx;
  const C = info.latentChannels;
  const scaling = f(info.vaeScalingFactor);
  const z = new Float32Array(C * h * w);
  for (let k = 0; k < z.length; k++) z[k] = latents[k] / scaling;
  const tensor = { data: z, shape: [1, C, h, w] };
  const tiled = params.multiDecoder && (pixelHeight > params.tiledDecodeAbove || pixelWidth > params.tiledDecodeAbove);
  const image = tiled
    ? await tiledDecode(tensor, (t) => caller.vaeDecode(t), vaeTilingFor(info.baseResolution, info.vaeScaleFactor))
    : await caller.vaeDecode(tensor);
  const [, ch, H, W] = image.shape;
  if (ch !== 3) throw new RangeError(`the VAE decoded ${ch} channels, expected 3`);
  return { data: toRgbU8(image.data, H, W), width: W, height: H };
}

/**
 * VaeImageProcessor.postprocess(output_type 'pil'): (x / 2 + 0.5).clamp(0, 1) in float32, then numpy's
 * (x * 255).round() (round half to even) to uint8, CHW -> HWC.
 */
export function toRgbU8(chw: Float32Array, H: number, W: number, out?: Uint8Array): Uint8Array {
  const plane = H * W;
  const dst = out ?? new Uint8Array(3 * plane);
  // Pixel-major: three sequential reads, one sequential write (a 4096^2 image is 50M values).
  for (let i = 0, o = 0; i < plane; i++, o += 3) {
    dst[o] = toU8(chw[i]);
    dst[o + 1] = toU8(chw[plane + i]);
    dst[o + 2] = toU8(chw[2 * plane + i]);
  }
  return dst;
}

const ROUND_MAGIC = 6755399441055744;

/**
 * One value: (x / 2 + 0.5) clamped to [0, 1] in float32 (NaN stays NaN and is stored as 0), times 255, rounded half
 * to even like numpy: adding 1.5 * 2^52 leaves no fraction bits, so the float64 addition itself rounds to the nearest
 * integer, ties to even; subtracting it back is exact.
 */
function toU8(x: number): number {
  let v = f(f(x * 0.5) + 0.5); // x / 2 exactly
  v = v < 0 ? 0 : Math.min(v, 1);
  return f(v * 255) + ROUND_MAGIC - ROUND_MAGIC;
}

/** An RGB uint8 HWC image -> [1, 3, H, W] in [-1, 1] (what the VAE encoder takes). */
export function fromRgbU8(img: RgbImage): Float32Array {
  const plane = img.width * img.height;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) out[c * plane + i] = f(f(img.data[i * 3 + c] / 255) * 2 - 1);
  }
  return out;
}
