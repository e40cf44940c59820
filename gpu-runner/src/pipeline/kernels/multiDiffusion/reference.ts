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
 * The per-step buffers live in a `MultiDiffusionAccumulator` the main loop can reset and reuse.
 */

const f = Math.fround;

/** A half-open window `[h0, h1, w0, w1]` (same layout as views.ts `View`). */
export type ViewBox = readonly [h0: number, h1: number, w0: number, w1: number];

/** `latents*(1-c1) + noiseLatent*c1` elementwise in float32. `out` may alias either input. */
export function skipResidual(
  latents: Float32Array,
  noiseLatent: Float32Array,
  c1: number,
  out?: Float32Array,
): Float32Array {
  const n = latents.length;
  if (noiseLatent.length !== n) throw new RangeError("skipResidual: latents and noise differ in length");
  const dst = out ?? new Float32Array(n);
  const keep = f(1 - c1);
  const mix = f(c1);
  for (let i = 0; i < n; i++) dst[i] = f(latents[i] * keep) + f(noiseLatent[i] * mix);
  return dst;
}

/** The region of `view` inside an `H x W` frame, clipped like Python slicing. */
export function clipView(view: ViewBox, H: number, W: number): { h0: number; h1: number; w0: number; w1: number } {
  const h0 = Math.min(Math.max(view[0], 0), H);
  const w0 = Math.min(Math.max(view[2], 0), W);
  return { h0, h1: Math.min(Math.max(view[1], h0), H), w0, w1: Math.min(Math.max(view[3], w0), W) };
}

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

/** The branch weights of the c2 blend, as float32 like the reference's tensors. */
export function branchWeights(c2: number): { local: number; global: number; total: number } {
  const local = f(1 - c2);
  const global = f(c2);
  return { local, global, total: f(local + global) };
}

/**
 * The step's output latent from the two branches:
 * both:        `value = (vl/cl)*(1-c2) + vg*c2`, `count = (1-c2) + c2`;
 * local only:  `value = vl/cl`, `count = 1`;  global only: `value = vg`, `count = 1`;
 * result `where(count > 0, value/count, value)`. `local.count` is one [H, W] plane shared by the
 * `planes` planes of `local.value`. `out` may alias any input.
 */
export function blendBranches(
  local: { value: Float32Array; count: Float32Array } | null,
  global: Float32Array | null,
  c2: number,
  planes: number,
  plane: number,
  out: Float32Array,
): Float32Array {
  const n = planes * plane;
  if (out.length < n) throw new RangeError("blendBranches: out is too short");
  if (!local && !global) throw new RangeError("blendBranches: at least one branch is required");
  if (local && !global) {
    for (let p = 0; p < planes; p++) {
      for (let i = 0; i < plane; i++) out[p * plane + i] = f(local.value[p * plane + i] / local.count[i]);
    }
    return out;
  }
  if (!local && global) {
    if (out !== global) out.set(global.subarray(0, n));
    return out;
  }
  const vl = local!.value;
  const cl = local!.count;
  const vg = global!;
  const w = branchWeights(c2);
  const total = w.total;
  for (let p = 0; p < planes; p++) {
    for (let i = 0; i < plane; i++) {
      const k = p * plane + i;
      const value = f(f(f(vl[k] / cl[i]) * w.local) + f(vg[k] * w.global));
      out[k] = total > 0 ? f(value / total) : value;
    }
  }
  return out;
}
