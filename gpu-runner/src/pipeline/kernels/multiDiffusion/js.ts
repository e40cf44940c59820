/**
 * The per-element work of the MultiDiffusion branch, fused into two passes per view batch.
 *
 * The reference pads the latent by the jitter range, slices each view out of the padded latent, repeats it for
 * classifier-free guidance, scales it, and after the UNet combines the guidance halves, takes an Euler step on the
 * view and adds it into `value`/`count` sums in the padded frame that is finally cropped. Done op by op that is ~8
 * full passes over the views (3.2M elements per step at 4096^2). Here:
 *
 *   viewModelInput:     latent -> the model input [2*vb, C, vh, vw] (padding zeros written directly, no padded copy);
 *   accumulateGuided:   noise prediction -> guidance -> Euler step -> sums, in the UNPADDED frame: what lands in the
 *                       padding is cropped away by the reference, so it is neither computed nor stored.
 *
 * Every value is computed with the same float32 operations in the same order as the unfused functions
 * (`gatherViews` + `cfgModelInput`, `cfgGuidance` + `eulerStep` + `accumulateView` + `finishMultiDiffusion`, in
 * reference.ts and ../../sampling.ts), so the results are bit-identical to them (multiDiffusion.test.ts,
 * "viewModelInput" and "accumulateGuided"); wasm.ts is the WebAssembly form of the same loops ("in WebAssembly").
 */

import { cfgValue } from "../../sampling";
import { eulerValue } from "../../scheduler";
import { float32Reciprocal } from "../../tensor/float32";
import { clipView, type ViewBox } from "./viewBox";

const f = Math.fround;

/** The latent being denoised: `planes` planes of H x W, seen through the frame padded by `jr` on every side. */
export interface JitterFrame {
  latents: Float32Array;
  planes: number;
  height: number;
  width: number;
  /** Jitter range = padding of the frame the views live in. */
  jr: number;
}

/** Clipped size shared by all views of a batch (views are clipped to the padded frame like Python slicing). */
export function batchViewSize(frame: JitterFrame, views: readonly ViewBox[]): { vh: number; vw: number } {
  const PH = frame.height + 2 * frame.jr;
  const PW = frame.width + 2 * frame.jr;
  const first = clipView(views[0], PH, PW);
  const vh = first.h1 - first.h0;
  const vw = first.w1 - first.w0;
  for (const v of views) {
    const r = clipView(v, PH, PW);
    if (r.h1 - r.h0 !== vh || r.w1 - r.w0 !== vw) throw new RangeError("gatherViews: views of different sizes");
  }
  return { vh, vw };
}

/** Columns [x0, x1) of a clipped view row that fall inside the latent (the rest is padding). */
export function innerColumns(w0: number, vw: number, jr: number, W: number): { x0: number; x1: number } {
  const x0 = Math.min(Math.max(jr - w0, 0), vw);
  return { x0, x1: Math.max(Math.min(W + jr - w0, vw), x0) };
}

/**
 * The UNet input of a view batch: rows [v0, v0, v1, v1, ...] (repeat_interleave(2)), each the view's slice of the
 * padded latent divided by `divisor` (scale_model_input). Writes 2*vb*planes*vh*vw values into `out`.
 * Equals `gatherViews` + `cfgModelInput` (reference.ts, ../../sampling.ts); test "viewModelInput".
 */
export function viewModelInput(
  frame: JitterFrame,
  views: readonly ViewBox[],
  divisor: number,
  out: Float32Array,
): { vh: number; vw: number } {
  return writeViewInput(frame, views, divisor, out, false);
}

/**
 * viewModelInput's loops; with `innerWritten` the latent part of every row is already in `out` (the WebAssembly form
 * copied it) and only the padding zeros are written.
 */
export function writeViewInput(
  frame: JitterFrame,
  views: readonly ViewBox[],
  divisor: number,
  out: Float32Array,
  innerWritten: boolean,
): { vh: number; vw: number } {
  const { latents, planes, height: H, width: W, jr } = frame;
  const { vh, vw } = batchViewSize(frame, views);
  const per = planes * vh * vw;
  if (out.length < 2 * views.length * per) throw new RangeError("viewModelInput: out is too short");
  const PH = H + 2 * jr;
  const PW = W + 2 * jr;
  const r = float32Reciprocal(divisor); // latent / divisor, exactly (rounded by the store)
  for (let b = 0; b < views.length; b++) {
    const { h0, w0 } = clipView(views[b], PH, PW);
    const { x0, x1 } = innerColumns(w0, vw, jr, W);
    const d0 = 2 * b * per;
    const d1 = d0 + per;
    for (let p = 0; p < planes; p++) {
      for (let y = 0; y < vh; y++) {
        const o = (p * vh + y) * vw;
        const ly = h0 + y - jr;
        if (ly < 0 || ly >= H || x1 === x0) {
          out.fill(0, d0 + o, d0 + o + vw);
          out.fill(0, d1 + o, d1 + o + vw);
          continue;
        }
        if (x0 > 0) {
          out.fill(0, d0 + o, d0 + o + x0);
          out.fill(0, d1 + o, d1 + o + x0);
        }
        if (!innerWritten) {
          const s = (p * H + ly) * W + w0 - jr;
          for (let x = x0; x < x1; x++) {
            const v = latents[s + x] * r;
            out[d0 + o + x] = v;
            out[d1 + o + x] = v;
          }
        }
        if (x1 < vw) {
          out.fill(0, d0 + o + x1, d0 + o + vw);
          out.fill(0, d1 + o + x1, d1 + o + vw);
        }
      }
    }
  }
  return { vh, vw };
}

/** MultiDiffusion sums of one step in the unpadded frame: `value` [planes, H, W], `count` [H, W]. */
export interface LocalSums {
  value: Float32Array;
  count: Float32Array;
}

/** The Euler step of a batch: guidance scale and the sigmas it goes from and to. */
export interface GuidedStep {
  guidanceScale: number;
  sigma: number;
  sigmaNext: number;
}

/**
 * For each view b of the batch: eps = uncond + scale*(text - uncond) from the UNet output rows 2b, 2b+1; the Euler
 * step of the view's latent slice; `value += step` and, with `countViews`, `count += 1` where the view covers the
 * latent (the counts depend only on the views: a caller whose views did not change may keep last step's).
 * Equals `cfgGuidance` + `eulerStep` + `accumulateView` (reference.ts, ../../sampling.ts); test "accumulateGuided".
 */
export function accumulateGuided(
  frame: JitterFrame,
  views: readonly ViewBox[],
  noise: Float32Array,
  step: GuidedStep,
  sums: LocalSums,
  countViews = true,
): void {
  const { latents, planes, height: H, width: W, jr } = frame;
  const { vh, vw } = batchViewSize(frame, views);
  const per = planes * vh * vw;
  if (noise.length < 2 * views.length * per) throw new RangeError("accumulateGuided: noise is too short");
  const PH = H + 2 * jr;
  const PW = W + 2 * jr;
  const g = f(step.guidanceScale);
  const s = f(step.sigma);
  const dt = f(f(step.sigmaNext) - s);
  const rs = float32Reciprocal(s);
  const { value, count } = sums;
  for (let b = 0; b < views.length; b++) {
    const { h0, w0 } = clipView(views[b], PH, PW);
    const { x0, x1 } = innerColumns(w0, vw, jr, W);
    if (x1 === x0) continue;
    const y0 = Math.max(jr - h0, 0);
    const y1 = Math.min(H + jr - h0, vh);
    const u = 2 * b * per;
    const t = u + per;
    for (let p = 0; p < planes; p++) {
      for (let y = y0; y < y1; y++) {
        const o = (p * vh + y) * vw;
        const l = (p * H + h0 + y - jr) * W + w0 - jr;
        for (let x = x0; x < x1; x++) {
          const eps = cfgValue(noise[u + o + x], noise[t + o + x], g);
          value[l + x] += eulerValue(latents[l + x], eps, s, dt, rs);
        }
      }
    }
    if (countViews) countView(count, W, h0 - jr, w0 - jr, y0, y1, x0, x1);
  }
}

/** count += 1 over rows [y0, y1) and columns [x0, x1) of a view whose (0, 0) is latent (top, left). */
export function countView(
  count: Float32Array,
  W: number,
  top: number,
  left: number,
  y0: number,
  y1: number,
  x0: number,
  x1: number,
): void {
  for (let y = y0; y < y1; y++) {
    const c = (top + y) * W + left;
    for (let x = x0; x < x1; x++) count[c + x] += 1;
  }
}
