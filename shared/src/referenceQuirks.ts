/**
 * The reference implementation's defects, each a named switch.
 *
 * `referenceCompat: true` reproduces the reference bit for bit, defects included (the golden runner uses it); the
 * default fixes them. The boolean is read here and nowhere else: every site that behaves differently asks its own
 * question by name (`quirks.staleStepIndex`, ...), and the README's list of reference defects uses the same names.
 * Today the switches move together; naming them is what lets a reader find each defect's code with grep.
 */
export interface ReferenceQuirks {
  /**
   * diffusers 0.21.4's Euler scheduler keeps a step index that the reference re-synchronises only after
   * `scale_model_input`: the first batch of every upscaling phase is unscaled (`sigmas[n] = 0`) and later batches
   * of a step use the next step's sigma. Fixed: every model input of step i is scaled with `sigmas[i]`.
   */
  staleStepIndex: boolean;
  /**
   * `aggregate_attention` reads the row-major attention pixels as (map_w, map_h), and the patch prompts then stretch
   * the masks with width and height swapped, pad them by `int((ori_h - ori_h/2) // 4)` and divide coverage by the
   * map's area. Fixed: (map_h, map_w), padded by the views' jitter range, coverage over the window's area.
   */
  swappedAttentionReshape: boolean;
  /**
   * The reference conditions every phase on the final size (SDXL time ids), so no phase is shared across final
   * sizes. Fixed: each phase on its own pixel size (what makes phases cacheable across final sizes).
   */
  finalSizeTimeIds: boolean;
  /** The reference calls the ControlNet only together with patch prompts. Fixed: on every window when on. */
  controlNetOnlyWithPatchPrompts: boolean;
  /** The reference calls the ControlNet at steps where its weight is 0 (zero residuals). Fixed: skipped. */
  controlNetAtZeroWeight: boolean;
  /**
   * On an axis shorter than the window, the reference's windows start at 0, reach past the axis, are jittered there
   * and are clipped by slicing. Fixed: the window spans exactly that axis, undrawn (views.ts ShortAxis "fit").
   */
  extendAndClipShortAxis: boolean;
  /**
   * The reference reaches only integer multiples of the base (asked for 3000², it returns 2048²). Fixed: exactly
   * width x height (phasePlan.ts' generalised plan, last phase pinned to the request).
   */
  integerMultipleSizes: boolean;
  /**
   * The reference resizes the canny condition to current_height x current_width, which need not be multiples of 8.
   * Fixed: latent size x 8, so window crops of the condition align with latent crops.
   */
  conditionAtPixelSize: boolean;
  /**
   * The reference always tiles patch windows on the attention-map frame, scaled to latents by a hard-coded 4. Fixed:
   * that geometry only where it fits the phase's latent exactly, with the bundle's latent/attention ratio; else
   * windows on the latent frame (patchPlan.ts).
   */
  attentionFramePatches: boolean;
  /**
   * Sizes at which the reference itself fails are refused instead of being run the way the reference cannot: attention
   * maps off its (px // 32) grid by the API at submit (a rule of the size, referenceLimits.ts, in sizeIssues) and by
   * the runner before any model call; a window batch that slicing clips to different sizes (seed-dependent) by the
   * runner (gpu-runner pipeline/referenceLimits.ts), with UnsupportedSizeError.
   */
  refuseUnrunnableSizes: boolean;
}

const names = [
  "staleStepIndex",
  "swappedAttentionReshape",
  "finalSizeTimeIds",
  "controlNetOnlyWithPatchPrompts",
  "controlNetAtZeroWeight",
  "extendAndClipShortAxis",
  "integerMultipleSizes",
  "conditionAtPixelSize",
  "attentionFramePatches",
  "refuseUnrunnableSizes",
] as const satisfies readonly (keyof ReferenceQuirks)[];

// Compile-time check that the list names every quirk.
const exhaustive: [Exclude<keyof ReferenceQuirks, (typeof names)[number]>] extends [never] ? true : never = true;
void exhaustive;

/** Every quirk's name, in the README's order. */
export const REFERENCE_QUIRK_NAMES: readonly (keyof ReferenceQuirks)[] = names;

function all(on: boolean): Readonly<ReferenceQuirks> {
  return Object.freeze(Object.fromEntries(names.map((n) => [n, on])) as unknown as ReferenceQuirks);
}

/** The reference's behaviour, defects included. */
export const REFERENCE_QUIRKS: Readonly<ReferenceQuirks> = all(true);
/** The corrected behaviour (the default). */
export const NO_QUIRKS: Readonly<ReferenceQuirks> = all(false);

/** The one place `referenceCompat` is interpreted. */
export function referenceQuirks(referenceCompat: boolean): Readonly<ReferenceQuirks> {
  return referenceCompat ? REFERENCE_QUIRKS : NO_QUIRKS;
}
