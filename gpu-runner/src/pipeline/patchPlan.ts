/**
 * Patch-content-aware prompts for every upscaling phase: the per-token masks of phase 1's attention, the windows of
 * each phase, and the prompt of each window.
 *
 * Reference geometry (always with the `attentionFramePatches` quirk, and by default whenever it fits):
 * get_multidiffusion_prompts tiles the attention-map frame enlarged s times, and the MultiDiffusion windows of phase s are those attention windows
 * times 4 (latent = 4 x attention map), fixed for the whole phase.
 *
 * Where that geometry does not fit the phase's latent (the last phase of a non-integer size, or a phase-1 size that
 * is not a multiple of 32 px, where the reference leaves the last rows/columns uncovered and falls back to noise), we
 * keep the method and change only the frame: standard MultiDiffusion windows over the actual latent (drawn once per
 * phase, like the reference's fixed patch windows), and each window's words chosen by the same rule, coverage >= c
 * of the window by the word's mask upscaled (nearest) to the latent grid.
 */
import { type AttentionMap, tokenMasks } from "./attention";
import type { JobContext } from "./job";
import { coverageInFrame, patchPrompts, promptsForThreshold } from "./patchPrompts";
import type { PhaseSpec } from "./phasePlan";
import { getViews, jitterRange, scaleViews, type View } from "./views";

export interface PhasePatches {
  /** MultiDiffusion windows in the latent frame padded by the jitter range. */
  views: View[];
  /** One prompt per window ('' when no word covers it). */
  prompts: string[];
  /** Windows in attention-map units when the reference geometry was used (golden `attention_views`). */
  attentionViews?: View[];
  geometry: "reference" | "latent";
}

export interface PatchPlan {
  /** Candidate words (prompt tokens without BOS/EOS). */
  tokens: string[];
  masks: Uint8Array[];
  rows: number;
  cols: number;
  /** Per upscaling phase id. */
  byPhase: Map<number, PhasePatches>;
}

/** Builds the patch prompts of every upscaling phase with scale >= 2 (the reference makes none for scale 1). */
export function planPatchPrompts(ctx: JobContext, attention: AttentionMap): PatchPlan {
  const { params, plan, info } = ctx;
  const tokens = ctx.models.tokenize(params.prompt).tokens;
  const { rows, cols } = attention;
  const masks = tokenMasks(attention.data, rows, cols, attention.tokens, Math.min(tokens.length, attention.tokens));
  const used = tokens.slice(0, masks.length);
  if (used.length < tokens.length) {
    ctx.warnings.push(
      `attention maps have ${attention.tokens} tokens, the prompt ${tokens.length}: extra words ignored`,
    );
  }
  const ref = patchPrompts({
    masks,
    rows,
    cols,
    tokens: used,
    c: params.patchThreshold,
    scaleNum: plan.scaleNum,
    randInt: ctx.random.patchViewJitter(),
    quirks: params.quirks,
  });
  const byPhase = new Map<number, PhasePatches>();
  const factor = info.attentionDivisor / info.vaeScaleFactor;
  for (const ph of plan.upscales) {
    if (ph.scale < 2) continue;
    const attViews = ref.views[ph.scale];
    const fits =
      params.quirks.attentionFramePatches ||
      (attViews !== undefined &&
        rows * ph.scale * factor === ph.latentHeight &&
        cols * ph.scale * factor === ph.latentWidth);
    if (fits && attViews) {
      // The reference multiplies by a hard-coded 4; outside compat we use the bundle's latent/attention ratio (4 too).
      const f = params.quirks.attentionFramePatches ? 4 : factor;
      byPhase.set(ph.id, {
        views: scaleViews(attViews, f),
        prompts: ref.prompts[ph.scale],
        attentionViews: attViews,
        geometry: "reference",
      });
    } else {
      byPhase.set(ph.id, latentFramePatches(ctx, ph, masks, rows, cols, used));
    }
  }
  return { tokens: used.slice(1, -1), masks, rows, cols, byPhase };
}

function latentFramePatches(
  ctx: JobContext,
  ph: PhaseSpec,
  masks: readonly Uint8Array[],
  rows: number,
  cols: number,
  tokens: readonly string[],
): PhasePatches {
  const { window, stride, patchThreshold } = ctx.params;
  const H = ph.latentHeight;
  const W = ph.latentWidth;
  const jr = jitterRange(window, stride);
  // Only without the attentionFramePatches quirk (which always takes the reference geometry): windows fit a short
  // axis.
  const views = getViews(H, W, window, stride, ctx.random.viewJitter(ph.id), "fit");
  const coverage = coverageInFrame(masks, rows, cols, H, W, views, jr, null);
  const prompts = promptsForThreshold(tokens.slice(1, -1), { [ph.scale]: coverage }, patchThreshold)[ph.scale] ?? [];
  return { views, prompts: prompts.length ? prompts : views.map(() => ""), geometry: "latent" };
}
