/**
 * ControlNet condition crops on the host, and `controlledUNet`: a `ControlRequest` served with the two separate model
 * calls (crops -> controlnet -> residuals -> unet). This is what bundles without the fused `unet_controlnet` component
 * run, and what the pipeline falls back to over a `Models` without `unetControlled` (closed-form fakes, stand-ins).
 *
 * The crops are the reference's `condition[:, :, top:top+H, left:left+W]` of the zero-padded condition, copied to 3
 * channels and repeated for each view's rows: `[B, 3, H, W]`. The padded image is never built: rows and columns outside
 * the condition are written as zeros.
 */
import type { ControlCondition, ControlRequest, Models, Tensor, UNetInput, UNetOutput } from "./types";

/** Number of (top, left) pairs in `boxes`; throws unless the batch's rows split evenly over them. */
export function boxCount(boxes: Int32Array, rows: number): number {
  const views = boxes.length / 2;
  if (!Number.isInteger(views) || views === 0) throw new RangeError(`control boxes: ${boxes.length} values`);
  if (rows % views !== 0) throw new RangeError(`control boxes: ${views} views for a batch of ${rows} rows`);
  return views;
}

/**
 * `[views * rowsPerView, 3, ph, pw]`: for each (top, left) of `boxes` (pixels in the frame padded by `cond.pad`),
 * the crop of the padded condition, in 3 channels, `rowsPerView` times. Boxes must lie inside the padded frame.
 */
export function cropBoxes(
  cond: ControlCondition,
  boxes: Int32Array,
  rowsPerView: number,
  ph: number,
  pw: number,
  out?: Float32Array,
): Tensor {
  const { data: src, height: H, width: W, pad } = cond;
  if (src.length !== H * W) throw new RangeError(`cropBoxes: condition has ${src.length} values, not ${H}*${W}`);
  const views = boxes.length / 2;
  for (let b = 0; b < views; b++) {
    const top = boxes[2 * b];
    const left = boxes[2 * b + 1];
    if (top < 0 || left < 0 || top + ph > H + 2 * pad || left + pw > W + 2 * pad) {
      throw new RangeError(`cropBoxes: a ${ph}x${pw} crop at (${top}, ${left}) leaves the padded frame`);
    }
  }
  const plane = ph * pw;
  const needed = views * rowsPerView * 3 * plane;
  if (out && out.length < needed) throw new RangeError(`cropBoxes: out has ${out.length} values, needs ${needed}`);
  const data = out ? out.subarray(0, needed) : new Float32Array(needed);
  for (let b = 0; b < views; b++) {
    const first = b * rowsPerView * 3 * plane; // channel 0 of the view's first row
    const y0 = boxes[2 * b] - pad; // top-left in condition coordinates
    const x0 = boxes[2 * b + 1] - pad;
    // Columns of the crop that fall inside the condition: [cx0, cx1).
    const cx0 = Math.min(Math.max(-x0, 0), pw);
    const cx1 = Math.max(Math.min(W - x0, pw), cx0);
    for (let y = 0; y < ph; y++) {
      const o = first + y * pw;
      const sy = y0 + y;
      if (sy < 0 || sy >= H || cx1 === cx0) {
        data.fill(0, o, o + pw);
        continue;
      }
      const s = sy * W + x0;
      data.fill(0, o, o + cx0);
      data.set(src.subarray(s + cx0, s + cx1), o + cx0);
      data.fill(0, o + cx1, o + pw);
    }
    // Channels 1 and 2, then the repeated rows, are copies of channel 0.
    data.copyWithin(first + plane, first, first + plane);
    data.copyWithin(first + 2 * plane, first, first + plane);
    for (let r = 1; r < rowsPerView; r++) data.copyWithin(first + r * 3 * plane, first, first + 3 * plane);
  }
  return { data, shape: [views * rowsPerView, 3, ph, pw] };
}

/**
 * Host crops of a batch, rebuilt only when the boxes (or the condition, or the crop size) change: a phase with fixed
 * windows, or with one view batch, builds them once instead of at every step (~400 MB per batch of 16 at 4096^2).
 */
export class CropCache {
  private buf?: Float32Array;
  private key?: { cond: ControlCondition; boxes: string; tensor: Tensor };

  crops(cond: ControlCondition, boxes: Int32Array, rowsPerView: number, ph: number, pw: number): Tensor {
    const k = `${rowsPerView}:${ph}x${pw}:${boxes.join(",")}`;
    if (this.key?.cond === cond && this.key.boxes === k) return this.key.tensor;
    const needed = (boxes.length / 2) * rowsPerView * 3 * ph * pw;
    if (!this.buf || this.buf.length < needed) this.buf = new Float32Array(needed);
    const tensor = cropBoxes(cond, boxes, rowsPerView, ph, pw, this.buf);
    this.key = { cond, boxes: k, tensor };
    return tensor;
  }

  clear(): void {
    this.buf = undefined;
    this.key = undefined;
  }
}

/** A ControlRequest served by `models.controlnet` on host crops, then `models.unet` with its residuals. */
export async function controlledUNet(
  models: Pick<Models, "info" | "controlnet" | "unet">,
  input: UNetInput,
  control: ControlRequest,
  cache: CropCache,
): Promise<UNetOutput> {
  const [rows, , h, w] = input.sample.shape;
  const views = boxCount(control.boxes, rows);
  const k = models.info.vaeScaleFactor;
  const cond = cache.crops(control.condition, control.boxes, rows / views, k * h, k * w);
  const residuals = await models.controlnet({ ...input, cond, conditioningScale: control.conditioningScale });
  return models.unet(input, residuals);
}
