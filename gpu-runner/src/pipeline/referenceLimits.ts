/**
 * Sizes at which the reference implementation itself fails. `referenceCompat` reproduces the reference, so there it
 * (quirk `refuseUnrunnableSizes`) refuses them with an UnsupportedSizeError that names the cause, rather than failing
 * deep inside a kernel or, worse, producing something the reference never would.
 *
 * Two such failures exist for small or elongated sizes:
 *
 * 1. Attention grid (with patch prompts): phase 1's UNet attention maps are not the (px // 32) grid the reference's
 *    aggregate_attention looks for. A pure rule of the size, in shared/ (referenceLimits.ts): the API refuses these
 *    requests at submit with a 422 and the same message; here it is the backstop for callers that skip the API.
 *
 * 2. Window batches of different sizes. A view larger than the latent (the latent shorter than the window on an
 *    axis) starts at 0 and extends past the image; each view of the batch is jittered by its own draw, and slicing
 *    the padded latent clips them to different sizes, which the reference's `torch.cat` of the batch rejects. The
 *    draws are seeded, so this depends on the seed and on view_batch_size (one view per batch always runs): not a
 *    rule of the size, so only the runner refuses it, when a batch comes.
 *    Batches that clip alike run exactly as in the reference (the UNet then sees the clipped size).
 */
import { referenceAttentionGridRefusal } from "@accdiff/shared";
import type { JobContext } from "./job";
import { clipView, type ViewBox } from "./kernels/multiDiffusion/viewBox";
import type { PhaseSpec } from "./phasePlan";
import { UnsupportedSizeError } from "./phasePlan";

/**
 * Refuses (quirk `refuseUnrunnableSizes`), with patch prompts, a phase 1 whose UNet attention maps are not the grid
 * the reference looks for (see 1. above). Skipped when the golden injects the reference's attention store, and when
 * phase 1 is the caller's image (the reference collects no attention then).
 */
export function assertReferenceAttentionGrid(ctx: JobContext): void {
  if (ctx.random.inject.attentionStore) return;
  const { params, plan } = ctx;
  const refusal = referenceAttentionGridRefusal({
    width: params.width,
    height: params.height,
    quirks: params.quirks,
    usePatchPrompts: params.usePatchPrompts,
    plan,
    geometry: ctx.info,
  });
  if (refusal) throw new UnsupportedSizeError(refusal);
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
