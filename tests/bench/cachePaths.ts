/**
 * Which cache path a render takes after earlier renders, and the model evaluations it saves.
 *
 * The path comes from the worker's real cache keys (worker/src/cache/keys.ts over shared/cacheKeys.ts) and the rule of
 * worker/src/cache/plan.ts, with every earlier render assumed complete and still stored:
 * - full hit: the final phase's key was computed before -> nothing runs;
 * - resume from phase k: phase 1 and phase k (the deepest earlier phase, k < S) are cached -> phases k+1..S run;
 *   k = 1 is the c-only change (c changes every upscaling key, not phase 1's);
 * - miss: everything runs.
 * The evaluations saved are the cached phases' counts of the new render.
 */
import { type ResolvedRequest, renderPhases } from "@accdiff/shared";
import { renderKeys } from "../../worker/src/cache/keys";
import { combine, type EvalCounts, type PhaseCounts, sumPhases } from "./evalCounts";

export type CachePathKind = "full-hit" | "resume" | "miss";

export interface CachePath {
  kind: CachePathKind;
  /** Deepest cached phase a resumed runner starts after (null unless kind is "resume"). */
  resumeFrom: number | null;
  /** Phases served from the cache. */
  cachedPhases: number[];
  /** Phases the runner computes. */
  computedPhases: number[];
}

/** The keys a set of earlier renders left in the cache. */
export async function cachedKeys(bundleHash: string, earlier: ResolvedRequest[], base: number): Promise<Set<string>> {
  const keys = new Set<string>();
  for (const r of earlier) {
    const k = await renderKeys(bundleHash, r, renderPhases(r, base));
    keys.add(k.phase1);
    for (const v of Object.values(k.phases)) keys.add(v);
  }
  return keys;
}

/** The path of `next` given the keys in the cache (plan.ts's rule without the storage checks). */
export async function cachePathOf(
  bundleHash: string,
  cached: ReadonlySet<string>,
  next: ResolvedRequest,
  base: number,
): Promise<CachePath> {
  const keys = await renderKeys(bundleHash, next, renderPhases(next, base));
  const scales = keys.scales;
  const S = scales[scales.length - 1];
  const keyOf = (k: number) => (k === 1 ? keys.phase1 : keys.phases[String(k)]);
  if (cached.has(keyOf(S)))
    return { kind: "full-hit", resumeFrom: null, cachedPhases: [...scales], computedPhases: [] };
  if (!cached.has(keys.phase1))
    return { kind: "miss", resumeFrom: null, cachedPhases: [], computedPhases: [...scales] };
  let resumeFrom = 1;
  for (const k of [...scales].reverse()) {
    if (k > 1 && k < S && cached.has(keyOf(k))) {
      resumeFrom = k;
      break;
    }
  }
  return {
    kind: "resume",
    resumeFrom,
    cachedPhases: scales.filter((k) => k <= resumeFrom),
    computedPhases: scales.filter((k) => k > resumeFrom),
  };
}

export interface Savings {
  /** Every evaluation of the render without a cache. */
  uncached: EvalCounts;
  /** The cached phases' evaluations: what the cache saves, from the per-phase counts. */
  saved: EvalCounts;
  /** What still runs: uncached - saved. */
  runs: EvalCounts;
}

export function savingsOf(path: CachePath, counts: PhaseCounts): Savings {
  const uncached = sumPhases(counts);
  const saved = sumPhases(counts, path.cachedPhases);
  return { uncached, saved, runs: combine(uncached, saved, -1) };
}
