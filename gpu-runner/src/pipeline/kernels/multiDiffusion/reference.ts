/**
 * How one AccDiffusion upscaling step fuses its pieces (all float32, op by op like the reference):
 *
 * 1. Skip residual: the current latent is pulled towards the upsampled previous phase noised to
 *    this timestep, `latents*(1-c1) + noise_latents[i]*c1`.
 * 2. MultiDiffusion (local branch): the latent is zero-padded by the jitter range on every side,
 *    each jittered view is denoised on its own, and the denoised views are averaged where they
 *    overlap (`value/count`) in that padded frame, then cropped back. Pixels no view covered take
 *    `noise_latents[i+1]` (or `[i]` at the last step) as their value with count 1.
 * 3. Blend with the dilated (global) branch: `value = local*(1-c2) + global*c2`,
 *    `count = (1-c2) + c2`, result `where(count > 0, value/count, value)`.
 *
 * The per-step buffers live in a `MultiDiffusionAccumulator` the main loop can reset and reuse. 1. and 3. are in
 * ../stepFusion/reference.ts; the fused forms of 2. are js.ts and wasm.ts.
 */
import { clipView, type ViewBox } from "./viewBox";

/**
 * Copies the views `x[:, :, h0:h1, w0:w1]` of a `planes x H x W` tensor into a batch
 * `[views.length, planes, vh, vw]` (the reference's `torch.cat`; all clipped views must agree in size).
 */
export function gatherViews(
  src: Float32Array,
  planes: number,
  H: number,
  W: number,
  views: readonly ViewBox[],
  out?: Float32Array,
): { data: Float32Array; h: number; w: number } {
  if (views.length === 0) return { data: out ?? new Float32Array(0), h: 0, w: 0 };
  const first = clipView(views[0], H, W);
  const vh = first.h1 - first.h0;
  const vw = first.w1 - first.w0;
  const item = planes * vh * vw;
  const dst = out ?? new Float32Array(views.length * item);
  if (dst.length < views.length * item) throw new RangeError("gatherViews: out is too short");
  for (let b = 0; b < views.length; b++) {
    const r = clipView(views[b], H, W);
    if (r.h1 - r.h0 !== vh || r.w1 - r.w0 !== vw) throw new RangeError("gatherViews: views of different sizes");
    for (let p = 0; p < planes; p++) {
      for (let y = 0; y < vh; y++) {
        const s = (p * H + r.h0 + y) * W + r.w0;
        dst.set(src.subarray(s, s + vw), b * item + (p * vh + y) * vw);
      }
    }
  }
  return { data: dst, h: vh, w: vw };
}

/**
 * MultiDiffusion sums in the jitter-padded frame. `count` is one plane shared by all planes
 * (the reference adds 1 to every channel of a view's region alike).
 */
export interface MultiDiffusionAccumulator {
  readonly planes: number;
  /** Padded frame height/width (H + 2*jr, W + 2*jr). */
  readonly height: number;
  readonly width: number;
  /** [planes, height, width] sum of denoised views. */
  readonly value: Float32Array;
  /** [height, width] number of views covering each position. */
  readonly count: Float32Array;
}

export function createAccumulator(planes: number, height: number, width: number): MultiDiffusionAccumulator {
  return {
    planes,
    height,
    width,
    value: new Float32Array(planes * height * width),
    count: new Float32Array(height * width),
  };
}

/** Zeroes the sums for the next step (no reallocation). */
export function resetAccumulator(acc: MultiDiffusionAccumulator): void {
  acc.value.fill(0);
  acc.count.fill(0);
}

/**
 * `value[:, :, h0:h1, w0:w1] += denoised; count[h0:h1, w0:w1] += 1` for one denoised view
 * (`[planes, vh, vw]`, the clipped view size). `denoised` may be a subarray of a batch.
 */
export function accumulateView(acc: MultiDiffusionAccumulator, view: ViewBox, denoised: Float32Array): void {
  const { planes, height: H, width: W, value, count } = acc;
  const { h0, h1, w0, w1 } = clipView(view, H, W);
  const vh = h1 - h0;
  const vw = w1 - w0;
  if (denoised.length < planes * vh * vw) throw new RangeError("accumulateView: denoised view is too small");
  for (let p = 0; p < planes; p++) {
    for (let y = 0; y < vh; y++) {
      const v = (p * H + h0 + y) * W + w0;
      const d = (p * vh + y) * vw;
      for (let x = 0; x < vw; x++) value[v + x] += denoised[d + x];
    }
  }
  for (let y = h0; y < h1; y++) for (let x = w0; x < w1; x++) count[y * W + x] += 1;
}

/**
 * Crops the accumulator to `[jr:jr+H, jr:jr+W]` and applies the `count == 0` fallback: uncovered
 * positions take `fallback` (noise_latents[i+1], or [i] at the last step) with count 1.
 * Writes `valueOut` ([planes, H, W]) and `countOut` ([H, W]); returns the number of uncovered
 * (y, x) positions.
 */
export function finishMultiDiffusion(
  acc: MultiDiffusionAccumulator,
  jr: number,
  H: number,
  W: number,
  fallback: Float32Array,
  valueOut: Float32Array,
  countOut: Float32Array,
): number {
  const { planes, height: PH, width: PW, value, count } = acc;
  if (jr + H > PH || jr + W > PW) throw new RangeError("finishMultiDiffusion: crop outside the padded frame");
  if (fallback.length < planes * H * W || valueOut.length < planes * H * W || countOut.length < H * W) {
    throw new RangeError("finishMultiDiffusion: buffers shorter than planes*H*W");
  }
  let uncovered = 0;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const c = count[(jr + y) * PW + jr + x];
      if (c === 0) uncovered++;
      countOut[y * W + x] = c === 0 ? 1 : c;
    }
  }
  for (let p = 0; p < planes; p++) {
    for (let y = 0; y < H; y++) {
      const s = (p * PH + jr + y) * PW + jr;
      const d = (p * H + y) * W;
      const cRow = (jr + y) * PW + jr;
      for (let x = 0; x < W; x++) valueOut[d + x] = count[cRow + x] === 0 ? fallback[d + x] : value[s + x];
    }
  }
  return uncovered;
}
