/**
 * The public request (shared `ResolvedRequest`, what the API and the CLI validate) -> the pipeline's request, derived
 * from the parameter table (shared parameters.ts): each field goes to its pipeline name (which differs where the
 * pipeline keeps the reference's vocabulary: c -> patchThreshold, windowInteraction -> shuffle, ...).
 */
import { pipelineNames, type ResolvedRequest, SWITCHES } from "@accdiff/shared";
import type { PipelineRequest, RgbImage } from "../pipeline/index";

/** The reference switch each API switch drives. */
export const SWITCH_TO_PIPELINE = Object.fromEntries(Object.entries(SWITCHES).map(([k, s]) => [k, s.pipeline])) as {
  [K in keyof typeof SWITCHES]: (typeof SWITCHES)[K]["pipeline"];
} satisfies Record<keyof ResolvedRequest["switches"], keyof PipelineRequest>;

/** API field -> pipeline field, for every field the pipeline takes by name. */
const FIELD_TO_PIPELINE = pipelineNames() as [keyof ResolvedRequest, keyof PipelineRequest][];

/**
 * Maps a resolved request onto the pipeline. `initImage` is the decoded user image when `r.image` is set (the
 * reference's image_lr path). A null field (stride) leaves the pipeline's default: half of the bundle's latent window.
 */
export function toPipelineRequest(r: ResolvedRequest, initImage?: RgbImage): PipelineRequest {
  if (r.image && !initImage) throw new Error("the request names an input image but none was given");
  const out: Record<string, unknown> = {};
  for (const [field, name] of FIELD_TO_PIPELINE) if (r[field] !== null) out[name] = r[field];
  for (const k of Object.keys(SWITCH_TO_PIPELINE) as (keyof typeof SWITCH_TO_PIPELINE)[]) {
    out[SWITCH_TO_PIPELINE[k]] = r.switches[k];
  }
  if (initImage) out.initImage = initImage;
  return out as unknown as PipelineRequest;
}
