/**
 * Sizes the reference cannot run, as pure rules over the phase plan: quirk `refuseUnrunnableSizes` (compat only).
 * The API refuses them at submit and quote (request.ts, a 422 naming the cause) and the runner refuses them again
 * before any model call (gpu-runner pipeline/referenceLimits.ts, a backstop for callers that skip the API), both with
 * the message made here.
 *
 * The attention grid. The reference's `aggregate_attention` keeps only the cross-attention maps with exactly
 * (h // 32) * (w // 32) pixels, (h, w) being phase 1's pixel size. The UNet's maps are its latent rounded UP at each
 * stride-2 convolution (attentionGrid). When the two differ (a phase-1 side whose latent is not a multiple of 4, or
 * under 32 px), no map is kept and the reference's `torch.cat` of an empty list raises.
 *
 * The other failure of the reference (a window batch that slicing clips to different sizes) depends on the seed's
 * jitter draws at every step, not on the size alone, so only the runner can refuse it (its referenceLimits.ts).
 */
import { type AttentionGeometry, attentionGrid } from "./attentionGrid";
import type { PhasePlan } from "./phasePlan";
import type { ReferenceQuirks } from "./referenceQuirks";

/** The reference's attention-map divisor, hard-coded in aggregate_attention (whatever the bundle's). */
export const REFERENCE_ATTENTION_DIVISOR = 32;

export interface AttentionGridCase {
  width: number;
  height: number;
  quirks: Pick<ReferenceQuirks, "refuseUnrunnableSizes">;
  usePatchPrompts: boolean;
  /** The render's plan (a base phase of id 0 is the caller's image: the reference collects no attention then). */
  plan: Pick<PhasePlan, "scaleNum" | "base">;
  /** The bundle's attention geometry (the UNet's real grid). */
  geometry: AttentionGeometry;
}

/**
 * Why the reference cannot run this render (with patch prompts, phase 1's UNet attention maps are not the grid the
 * reference looks for), or null when it can or when the quirk is off. The message names the defect and the ways out.
 */
export function referenceAttentionGridRefusal(c: AttentionGridCase): string | null {
  const { plan } = c;
  if (!c.quirks.refuseUnrunnableSizes || !c.usePatchPrompts || plan.base.id !== 1) return null;
  // phase_1 pixels as the reference passes them to get_multidiffusion_prompts: height // S, width // S.
  const pxH = Math.floor(c.height / plan.scaleNum);
  const pxW = Math.floor(c.width / plan.scaleNum);
  const wantH = Math.floor(pxH / REFERENCE_ATTENTION_DIVISOR);
  const wantW = Math.floor(pxW / REFERENCE_ATTENTION_DIVISOR);
  const got = attentionGrid(c.geometry, plan.base.latentHeight, plan.base.latentWidth);
  // A different grid of the same pixel count is impossible here (each side is the floor or one more), so equal
  // sides are exactly the case where the reference finds its maps.
  if (wantH > 0 && wantW > 0 && got.mapH === wantH && got.mapW === wantW) return null;
  const S = plan.scaleNum;
  return (
    `referenceCompat cannot reproduce ${c.width}x${c.height} with patch prompts: a defect of the reference ` +
    `(aggregate_attention hard-codes the attention grid as phase-1 pixels // 32) makes it fail there. Phase 1 is ` +
    `${pxW}x${pxH} px, so it keeps only cross-attention maps of (${pxW} // 32) x (${pxH} // 32) = ${wantW}x${wantH} ` +
    `pixels, and the UNet's attention maps at that ${plan.base.latentWidth}x${plan.base.latentHeight} latent are ` +
    `${got.mapW}x${got.mapH}. The default mode (referenceCompat: false) renders this size; in compat, turn patch ` +
    `prompts off or use a size whose phase-1 sides (width // ${S}, height // ${S}) are multiples of 32.`
  );
}
