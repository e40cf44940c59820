/**
 * The ControlNet condition of AccDiffusion v2's upscaling phases: canny edges of the previous phase's
 * decoded image, which keep the structure of the low-resolution result while patches are denoised.
 *
 * Reference flow per phase: auto_canny(image) -> edges copied to 3 channels -> VaeImageProcessor
 * (do_normalize False: values edges/255, exactly 0 or 1) -> F.interpolate bicubic to the next phase's
 * pixel size -> zero-pad by jitter_range*8 pixels -> per view crop [h0*8:h1*8, w0*8:w1*8] -> repeat
 * for the CFG rows. The three channels are always identical, so the condition is kept single-channel
 * here (a third of the memory and of the bicubic work at 4096x4096) and only the per-view crops are
 * expanded to 3 channels.
 *
 * Not reproduced: VaeImageProcessor's PIL resize to (height//S, width//S) rounded down to multiples of
 * 8 before the bicubic. It is the identity whenever the decoded image already has that size, which
 * holds for every size whose phase-1 side is a multiple of 8 (the pipeline's sizes are multiples of 64).
 */
import { cropBoxes } from "../models/controlCrops";
import type { Tensor } from "../models/types";
import { bicubicResize } from "./tensor/bicubic";
import { type AutoCannyResult, autoCanny } from "./tensor/canny";
import type { View } from "./views";

export interface CannyCondition {
  /** The auto_canny result (edges 0/255, median, thresholds), kept for artifacts and diagnostics. */
  canny: AutoCannyResult;
  /** h*w single-channel condition: edges/255, exactly 0 or 1. */
  cond: Float32Array;
}

/** Canny of a decoded phase image (uint8 RGB, HWC) and the single-channel 0/1 condition it gives. */
export function cannyCondition(rgbHWC: Uint8Array, h: number, w: number, sigma: number): CannyCondition {
  const canny = autoCanny(rgbHWC, h, w, sigma);
  const cond = new Float32Array(h * w);
  const e = canny.edges;
  for (let i = 0; i < cond.length; i++) cond[i] = e[i] === 0 ? 0 : 1;
  return { canny, cond };
}

/**
 * The reference's F.interpolate(condition, size=(outH, outW), mode='bicubic') on the single-channel
 * condition (values may overshoot [0, 1] near edges, as in the reference; nothing clamps them).
 */
export function resizeCondition(
  cond: Float32Array,
  inH: number,
  inW: number,
  outH: number,
  outW: number,
  out?: Float32Array,
): Float32Array {
  return bicubicResize(cond, 1, inH, inW, outH, outW, out);
}

export interface CropOptions {
  /** Rows per view in the output (2 for classifier-free guidance: repeat_interleave(2)). Default 1. */
  rowsPerView?: number;
  /** Pixels per latent unit of the view coordinates. Default 8. */
  vaeScale?: number;
}

/**
 * The condition rows of one view batch: for each view [h0, h1, w0, w1] (latent units, in the frame
 * padded by `pad / vaeScale`), the slice [h0*8:h1*8, w0*8:w1*8] of the condition zero-padded by `pad`
 * pixels on all sides, copied to 3 channels and `rowsPerView` times: [B*rowsPerView, 3, vh, vw].
 * The padded image is never built: rows and columns outside the condition are written as zeros.
 * As with the reference's slicing, a view reaching past the padded frame is clipped; all views of a
 * batch must then have the same clipped size (torch.cat would fail otherwise).
 */
export function cropCondition(
  cond: Float32Array,
  H: number,
  W: number,
  pad: number,
  views: readonly View[],
  out?: Float32Array,
  options: CropOptions = {},
): Tensor {
  const rep = options.rowsPerView ?? 1;
  const k = options.vaeScale ?? 8;
  if (cond.length !== H * W) throw new RangeError(`cropCondition: condition has ${cond.length} values, not ${H}*${W}`);
  if (views.length === 0) throw new RangeError("cropCondition: no views");
  const paddedH = H + 2 * pad;
  const paddedW = W + 2 * pad;
  const extent = (v: View): [number, number] => [
    Math.min(v[1] * k, paddedH) - v[0] * k,
    Math.min(v[3] * k, paddedW) - v[2] * k,
  ];
  const [vh, vw] = extent(views[0]);
  for (const v of views) {
    if (v[0] < 0 || v[2] < 0) throw new RangeError(`cropCondition: view [${v}] starts before the padded frame`);
    const [eh, ew] = extent(v);
    if (eh !== vh || ew !== vw || vh <= 0 || vw <= 0) {
      throw new RangeError(`cropCondition: view [${v}] gives a ${eh}x${ew} crop, the batch needs ${vh}x${vw}`);
    }
  }
  return cropBoxes({ data: cond, height: H, width: W, pad }, viewBoxes(views, k), rep, vh, vw, out);
}

/** The (top, left) pixel origin of each view's crop in the padded frame: [views, 2] (the models' crop boxes). */
export function viewBoxes(views: readonly View[], vaeScale: number, out?: Int32Array): Int32Array {
  const boxes = out && out.length === 2 * views.length ? out : new Int32Array(2 * views.length);
  for (let b = 0; b < views.length; b++) {
    boxes[2 * b] = views[b][0] * vaeScale;
    boxes[2 * b + 1] = views[b][2] * vaeScale;
  }
  return boxes;
}
