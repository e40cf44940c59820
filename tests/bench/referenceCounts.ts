/**
 * Model evaluations of the reference loop (`AccDiffusionv2SDXLPipeline.__call__` in lzhxmu/AccDiffusion_v2 on
 * diffusers 0.21.4), derived from the structure of its code rather than measured, for a text-to-image call:
 *
 * Phase 1 (generated at height // S x width // S, S = int(max(h, w) / base)): one `encode_prompt` before the loop (the
 * prompt and the negative); one UNet call of batch 2 (CFG) per step; one whole-image VAE decode (lowvram off).
 *
 * Upscaling phase s (s = 2..S with progressive upscaling, else only S), at base * s on the long side (the short side
 * times the aspect ratio), latent int(px / 8), per step:
 * - MultiDiffusion: V windows, cut into batches of view_batch_size; one UNet call per batch with 2 * batch samples.
 *   With patch prompts (use_md_prompt) the windows are those `get_multidiffusion_prompts` tiled over the phase-1
 *   attention map (map = phase-1 px / 32, window = max map side, stride window / 2, times s), and every window's
 *   prompt is re-encoded with `encode_prompt` at the start of every step. Without patch prompts they are
 *   `get_views` over the latent (window = unet sample_size, stride 64).
 * - ControlNet: one call per MultiDiffusion batch, but only in the patch-prompt branch (use_md_prompt and
 *   use_controlnet), and even when controlnet_keep makes its residuals zero.
 * - Dilated sampling: s * s strided samples in batches of view_batch_size, one UNet call per batch.
 * After the loop one VAE decode; above 2048 px (either side) with diffusers' VAE tiling: one decoder evaluation per
 * tile, tiles of 128 latents every 96 (int(128 * (1 - 0.25))) in each direction.
 */
import { type EvalCounts, type PhaseCounts, zeroCounts } from "./evalCounts";

export interface ReferenceCall {
  width: number;
  height: number;
  steps: number;
  /** The UNet's native size in pixels (unet sample_size * vae scale factor): 1024 for SDXL. */
  base: number;
  vaeScaleFactor: number;
  /** Pixels of phase 1 per cross-attention map cell (the reference hard-codes 32, SDXL's). */
  attentionDivisor: number;
  /** MultiDiffusion window in latents (unet sample_size) and its stride. */
  window: number;
  stride: number;
  viewBatchSize: number;
  usePatchPrompts: boolean;
  useControlNet: boolean;
  useMultiDiffusion: boolean;
  useDilatedSampling: boolean;
  useProgressiveUpscaling: boolean;
  /** VAE tiling: threshold in pixels, latent tile and overlap (diffusers' AutoencoderKL for SDXL). */
  tiledAbove: number;
  tileLatent: number;
  tileOverlap: number;
}

/** SDXL's sizes and the reference's CLI defaults, for a square or any w x h. */
export function sdxlReferenceCall(width: number, height: number, steps: number): ReferenceCall {
  return {
    width,
    height,
    steps,
    base: 1024,
    vaeScaleFactor: 8,
    attentionDivisor: 32,
    window: 128,
    stride: 64,
    viewBatchSize: 16,
    usePatchPrompts: true,
    useControlNet: true,
    useMultiDiffusion: true,
    useDilatedSampling: true,
    useProgressiveUpscaling: true,
    tiledAbove: 2048,
    tileLatent: 128,
    tileOverlap: 0.25,
  };
}

/** Windows along one side, as both `get_views` compute it: 1 when the window covers it, else enough to reach the end. */
export function windowsAlong(size: number, window: number, stride: number): number {
  return size > window ? Math.trunc((size - window) / stride - 1e-6) + 2 : 1;
}

/** Decoder evaluations for an h x w latent decoded by diffusers' tiled_decode (range(0, size, overlap) per side). */
export function vaeTiles(h: number, w: number, tileLatent: number, overlap: number): number {
  if (h <= tileLatent && w <= tileLatent) return 1;
  const step = Math.trunc(tileLatent * (1 - overlap));
  return Math.ceil(h / step) * Math.ceil(w / step);
}

/** The reference's phase sizes: S, phase-1 pixels, and (pixel height, width) of each upscaling phase. */
export function referencePhases(c: ReferenceCall): {
  scaleNum: number;
  base: { height: number; width: number };
  upscales: { scale: number; height: number; width: number }[];
} {
  const hs = c.height / c.base;
  const ws = c.width / c.base;
  const scaleNum = Math.trunc(Math.max(hs, ws));
  if (scaleNum < 1) throw new RangeError(`the reference needs max(width, height) >= ${c.base}`);
  const aspect = Math.min(hs, ws) / Math.max(hs, ws);
  const start = c.useProgressiveUpscaling ? 2 : scaleNum;
  const upscales: { scale: number; height: number; width: number }[] = [];
  for (let s = start; s <= scaleNum; s++) {
    let h = c.base * s;
    let w = c.base * s;
    if (c.height > c.width) w = Math.trunc(w * aspect);
    else h = Math.trunc(h * aspect);
    upscales.push({ scale: s, height: h, width: w });
  }
  return {
    scaleNum,
    base: { height: Math.floor(c.height / scaleNum), width: Math.floor(c.width / scaleNum) },
    upscales,
  };
}

/** MultiDiffusion windows of upscaling phase s. */
function windowCount(
  c: ReferenceCall,
  phase1: { height: number; width: number },
  ph: { scale: number; height: number; width: number },
): number {
  if (c.usePatchPrompts) {
    // The attention map is (w, h)-shaped in the reference; its window is the longer side and the stride half of it.
    const mapH = Math.floor(phase1.height / c.attentionDivisor);
    const mapW = Math.floor(phase1.width / c.attentionDivisor);
    const win = Math.max(mapH, mapW);
    return windowsAlong(mapH * ph.scale, win, win / 2) * windowsAlong(mapW * ph.scale, win, win / 2);
  }
  const lh = Math.floor(ph.height / c.vaeScaleFactor);
  const lw = Math.floor(ph.width / c.vaeScaleFactor);
  return windowsAlong(lh, c.window, c.stride) * windowsAlong(lw, c.window, c.stride);
}

/** Evaluations of every phase of the reference call, and its `encode_prompt` calls per phase. */
export function referenceCounts(c: ReferenceCall): { phases: PhaseCounts; encodePromptCalls: Record<number, number> } {
  const plan = referencePhases(c);
  const n = c.steps;
  const phases: PhaseCounts = {};
  const encodePromptCalls: Record<number, number> = {};

  const p1: EvalCounts = zeroCounts();
  p1.unetCalls = n;
  p1.unetSamples = 2 * n;
  p1.textEncodings = 2; // encode_prompt(prompt, negative_prompt)
  p1.vaeDecodes = 1;
  phases[1] = p1;
  encodePromptCalls[1] = 1;

  for (const ph of plan.upscales) {
    const e = zeroCounts();
    let encodes = 0;
    if (c.useMultiDiffusion) {
      const views = windowCount(c, plan.base, ph);
      const batches = Math.ceil(views / c.viewBatchSize);
      e.unetCalls += n * batches;
      e.unetSamples += n * 2 * views;
      if (c.usePatchPrompts) {
        encodes = n * views;
        if (c.useControlNet) {
          e.controlnetCalls = n * batches;
          e.controlnetSamples = n * 2 * views;
        }
      }
    }
    if (c.useDilatedSampling) {
      const samples = ph.scale * ph.scale;
      e.unetCalls += n * Math.ceil(samples / c.viewBatchSize);
      e.unetSamples += n * 2 * samples;
    }
    e.textEncodings = 2 * encodes;
    const lh = Math.trunc(ph.height / c.vaeScaleFactor);
    const lw = Math.trunc(ph.width / c.vaeScaleFactor);
    const tiled = ph.height > c.tiledAbove || ph.width > c.tiledAbove;
    e.vaeDecodes = tiled ? vaeTiles(lh, lw, c.tileLatent, c.tileOverlap) : 1;
    phases[ph.scale] = e;
    encodePromptCalls[ph.scale] = encodes;
  }
  return { phases, encodePromptCalls };
}
