/** The cache keys of a render: one per level, chained phase to phase (shared/cacheKeys defines what each hashes). */
import { phase1CacheKey, phaseCacheKey, type RenderPhases, type ResolvedRequest } from "@accdiff/shared";

export interface RenderKeys {
  scales: number[];
  phase1: string;
  /** Phase (as a string, JSON-friendly) -> key, for phases 2..S, and "1" for the refinement of an image (below). */
  phases: Record<string, string>;
}

/**
 * The keys of a render whose phases (`render`, computed once per request) are known. From an image with progressive
 * upscaling (or at 1x), phase 1 is the encoded image (level 1: latents, attention maps, tokens) followed by a scale-1
 * refinement (`render.refinesPhase1`). The refinement depends on every upscale parameter, which the level-1 key leaves
 * out, so it has a level-k record of its own under phases["1"]; its image is what the job returns for phase 1.
 */
export async function renderKeys(bundleHash: string, r: ResolvedRequest, render: RenderPhases): Promise<RenderKeys> {
  const { scales } = render;
  const phase1 = await phase1CacheKey(bundleHash, r);
  const phases: Record<string, string> = {};
  let previous = phase1;
  for (const k of scales) {
    if (k === 1 && !render.refinesPhase1) continue;
    previous = await phaseCacheKey(phase1, previous, r, k, render.sizes[String(k)]);
    phases[String(k)] = previous;
  }
  return { scales, phase1, phases };
}
