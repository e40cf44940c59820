/**
 * Sizes at which the reference implementation itself fails. `referenceCompat` reproduces the reference, so there it
 * (quirk `refuseUnrunnableSizes`) refuses them with an UnsupportedSizeError that names the cause, rather than failing deep inside a kernel or, worse,
 * producing something the reference never would.
 *
 * Two such failures exist for small or elongated sizes:
 *
 * 1. Attention grid (with patch prompts). `aggregate_attention` keeps only the cross-attention maps with exactly
 *    (h // 32) * (w // 32) pixels, (h, w) being phase 1's pixel size. The UNet's maps are its latent rounded UP at
 *    each stride-2 convolution (attentionGrid). When the two differ (a phase-1 side whose latent is not a multiple of
 *    4, or under 32 px), no map is kept and the reference's `torch.cat` of an empty list raises. Sizes are known up
 *    front, so we refuse before any model call.
 *
 * 2. Window batches of different sizes. A view larger than the latent (the latent shorter than the window on an
 *    axis) starts at 0 and extends past the image; each view of the batch is jittered by its own draw, and slicing
 *    the padded latent clips them to different sizes, which the reference's `torch.cat` of the batch rejects. The
 *    draws are seeded, so this depends on the seed and on view_batch_size (one view per batch always runs).
 *    Batches that clip alike run exactly as in the reference (the UNet then sees the clipped size).
 */
import { attentionGrid } from "../models/types";
import type { JobContext } from "./job";
import { clipView, type ViewBox } from "./kernels/multiDiffusion/viewBox";
import type { PhaseSpec } from "./phasePlan";
import { UnsupportedSizeError } from "./phasePlan";

/** The reference's attention-map divisor, hard-coded in aggregate_attention. */
const REFERENCE_ATTENTION_DIVISOR = 32;

/**
 * Refuses (quirk `refuseUnrunnableSizes`), with patch prompts, a phase 1 whose UNet attention maps are not the grid
 * the reference looks for (see 1. above). Skipped when the golden injects the reference's attention store, and when phase 1 is the
 * caller's image (the reference collects no attention then).
 */
export function assertReferenceAttentionGrid(ctx: JobContext): void {
  const { params, plan } = ctx;
  if (!params.quirks.refuseUnrunnableSizes || !params.usePatchPrompts || plan.base.id !== 1) return;
  if (ctx.random.inject.attentionStore) return;
  // phase_1 pixels as the reference passes them to get_multidiffusion_prompts: height // S, width // S.
  const pxH = Math.floor(params.height / plan.scaleNum);
  const pxW = Math.floor(params.width / plan.scaleNum);
  const wantH = Math.floor(pxH / REFERENCE_ATTENTION_DIVISOR);
  const wantW = Math.floor(pxW / REFERENCE_ATTENTION_DIVISOR);
  const got = attentionGrid(ctx.info, plan.base.latentHeight, plan.base.latentWidth);
  // A different grid of the same pixel count is impossible here (each side is the floor or one more), so equal
  // sides are exactly the case where the reference finds its maps.
  if (wantH > 0 && wantW > 0 && got.mapH === wantH && got.mapW === wantW) return;
  throw new UnsupportedSizeError(
    `referenceCompat cannot reproduce ${params.width}x${params.height} with patch prompts: phase 1 is ${pxW}x${pxH} px, ` +
      `the reference keeps only cross-attention maps of (${pxW} // 32) x (${pxH} // 32) = ${wantW}x${wantH} pixels, ` +
      `and the UNet's attention maps at that ${plan.base.latentWidth}x${plan.base.latentHeight} latent are ` +
      `${got.mapW}x${got.mapH}, so the reference fails there. Use referenceCompat: false, usePatchPrompts: false, ` +
      `or a size whose phase-1 sides (width // ${plan.scaleNum}, height // ${plan.scaleNum}) are multiples of 32.`,
  );
}

/**
 * Refuses (quirk `refuseUnrunnableSizes`) a batch of windows that slicing clips to different sizes (see 2. above).
 * `PH x PW` is the padded latent the views are sliced from.
 */
export function assertUniformViewBatch(
  ctx: JobContext,
  phase: PhaseSpec,
  batch: readonly ViewBox[],
  PH: number,
  PW: number,
): void {
  if (!ctx.params.quirks.refuseUnrunnableSizes || batch.length < 2) return;
  const first = clipView(batch[0], PH, PW);
  for (const v of batch) {
    const r = clipView(v, PH, PW);
    if (r.h1 - r.h0 === first.h1 - first.h0 && r.w1 - r.w0 === first.w1 - first.w0) continue;
    throw new UnsupportedSizeError(
      `referenceCompat cannot reproduce ${ctx.params.width}x${ctx.params.height} with seed ${ctx.params.seed}: in ` +
        `phase ${phase.id} (latent ${phase.latentWidth}x${phase.latentHeight}, window ${ctx.params.window}) windows ` +
        `larger than the latent are jittered apart and clipped to different sizes within one batch ` +
        `(${first.w1 - first.w0}x${first.h1 - first.h0} and ${r.w1 - r.w0}x${r.h1 - r.h0} latents), which the ` +
        `reference cannot batch either. Use referenceCompat: false, another seed, or viewBatchSize: 1.`,
    );
  }
}
