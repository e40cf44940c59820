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
  for (let c = 0; c < 3; c++) {
    const base = c * plane;
    for (let i = 0; i < plane; i++) {
      let v = f(f(chw[base + i] / 2) + 0.5);
      v = v < 0 ? 0 : Math.min(v, 1);
      dst[i * 3 + c] = roundHalfEven(f(v * 255));
    }
  }
  return dst;
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
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
