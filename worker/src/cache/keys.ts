/** The cache keys of a render: one per level, chained phase to phase (shared/cacheKeys defines what each hashes). */
import { phase1CacheKey, phaseCacheKey, phaseScales, phaseSize, type ResolvedRequest } from "@accdiff/shared";

export interface RenderKeys {
  scales: number[];
  phase1: string;
  /** Phase (as a string, JSON-friendly) -> key, for phases 2..S. */
  phases: Record<string, string>;
}

export async function renderKeys(bundleHash: string, r: ResolvedRequest, baseResolution: number): Promise<RenderKeys> {
  const scales = phaseScales(r, baseResolution);
  const phase1 = await phase1CacheKey(bundleHash, r);
  const phases: Record<string, string> = {};
  let previous = phase1;
  for (const k of scales) {
    if (k === 1) continue;
    previous = await phaseCacheKey(phase1, previous, r, k, phaseSize(r, baseResolution, k));
    phases[String(k)] = previous;
  }
  return { scales, phase1, phases };
}
