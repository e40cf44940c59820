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
 * (`gatherViews` + `cfgModelInput`, `cfgGuidance` + `eulerStep` + `accumulateView` + `finishMultiDiffusion`), so the
 * results are bit-identical to them (tested).
 */

import { cfgValue } from "../../sampling";
import { eulerValue } from "../../scheduler";
import { float32Reciprocal } from "../../tensor/float32";
import type { PhaseMemory } from "../wasm/phaseMemory";
import { clipView, type ViewBox } from "./reference";

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
function innerColumns(w0: number, vw: number, jr: number, W: number): { x0: number; x1: number } {
  const x0 = Math.min(Math.max(jr - w0, 0), vw);
  return { x0, x1: Math.max(Math.min(W + jr - w0, vw), x0) };
}

/**
 * The UNet input of a view batch: rows [v0, v0, v1, v1, ...] (repeat_interleave(2)), each the view's slice of the
 * padded latent divided by `divisor` (scale_model_input). Writes 2*vb*planes*vh*vw values into `out`.
 */
export function viewModelInput(
  frame: JitterFrame,
  views: readonly ViewBox[],
  divisor: number,
  out: Float32Array,
  mem: PhaseMemory | null = null,
): { vh: number; vw: number } {
  const { latents, planes, height: H, width: W, jr } = frame;
  const { vh, vw } = batchViewSize(frame, views);
  const per = planes * vh * vw;
  if (out.length < 2 * views.length * per) throw new RangeError("viewModelInput: out is too short");
  const PH = H + 2 * jr;
  const PW = W + 2 * jr;
  const r = float32Reciprocal(divisor); // latent / divisor, exactly (rounded by the store)
  // In WebAssembly when both arrays are views of the phase memory: the padding is zeroed here, the rest copied there.
  // (The kernel takes the divisor as a float32, which it always is in the pipeline: scale_model_input's.)
  const wasm = mem?.kernels && mem.holds(latents, out) && f(divisor) === divisor ? mem.kernels : null;
  for (let b = 0; b < views.length; b++) {
    const { h0, w0 } = clipView(views[b], PH, PW);
    const { x0, x1 } = innerColumns(w0, vw, jr, W);
    const d0 = 2 * b * per;
    const d1 = d0 + per;
    if (wasm && x1 > x0) {
      const y0 = Math.min(Math.max(jr - h0, 0), vh);
      const y1 = Math.max(Math.min(H + jr - h0, vh), y0);
      for (let p = 0; p < planes; p++) {
        if (y1 <= y0) continue;
        const src = latents.byteOffset + 4 * ((p * H + h0 + y0 - jr) * W + w0 - jr + x0);
        const dst = out.byteOffset + 4 * (d0 + (p * vh + y0) * vw + x0);
        wasm.viewInput(src, dst, 4 * per, y1 - y0, x1 - x0, 4 * W, 4 * vw, divisor);
      }
    }
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
        if (!wasm) {
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
 * When the latent, the sums and the noise are views of `mem`, the element loop runs in WebAssembly (same values).
 */
export function accumulateGuided(
  frame: JitterFrame,
  views: readonly ViewBox[],
  noise: Float32Array,
  step: GuidedStep,
  sums: LocalSums,
  countViews = true,
  mem: PhaseMemory | null = null,
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
  // The WebAssembly kernel when the latent, the sums and the noise are views of the phase memory.
  const wasm = mem?.kernels && mem.holds(latents, value, noise) ? mem.kernels : null;
  for (let b = 0; b < views.length; b++) {
    const { h0, w0 } = clipView(views[b], PH, PW);
    const { x0, x1 } = innerColumns(w0, vw, jr, W);
    if (x1 === x0) continue;
    const y0 = Math.max(jr - h0, 0);
    const y1 = Math.min(H + jr - h0, vh);
    const u = 2 * b * per;
    const t = u + per;
    for (let p = 0; p < planes; p++) {
      if (wasm) {
        if (y1 <= y0) continue;
        const o = 4 * ((p * vh + y0) * vw + x0);
        const l = 4 * ((p * H + h0 + y0 - jr) * W + w0 - jr + x0);
        const n0 = noise.byteOffset + o;
        const { rows, cols } = { rows: y1 - y0, cols: x1 - x0 };
        wasm.guidedSteps(
          n0 + 4 * u,
          n0 + 4 * t,
          latents.byteOffset + l,
          value.byteOffset + l,
          rows,
          cols,
          4 * vw,
          4 * W,
          g,
          s,
          dt,
        );
        continue;
      }
      for (let y = y0; y < y1; y++) {
        const o = (p * vh + y) * vw;
        const l = (p * H + h0 + y - jr) * W + w0 - jr;
        for (let x = x0; x < x1; x++) {
          const eps = cfgValue(noise[u + o + x], noise[t + o + x], g);
          value[l + x] += eulerValue(latents[l + x], eps, s, dt, rs);
        }
      }
    }
    if (!countViews) continue;
    for (let y = y0; y < y1; y++) {
      const c = (h0 + y - jr) * W + w0 - jr;
      for (let x = x0; x < x1; x++) count[c + x] += 1;
    }
  }
}
