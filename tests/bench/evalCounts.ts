/**
 * Model evaluations per kind, per phase: the unit every count in the benchmark is expressed in, for our pipeline
 * (measured through its ModelCaller) and for the reference loop (derived from its code, referenceCounts.ts).
 *
 * Units, chosen so that both sides count the same work:
 * - UNet / ControlNet calls: one forward pass of a batch; samples: the batch sizes summed (CFG doubling included),
 *   the better proxy for GPU time.
 * - text encodings: one text through the (dual) text encoder. The reference's `encode_prompt` with a negative prompt
 *   is two of them (the text and the negative); we encode each distinct text once per job.
 * - VAE decodes: decoder evaluations, i.e. tiles when a phase is decoded tiled.
 */
import type { PhaseCalls } from "../../gpu-runner/src/pipeline/index";
import { batchCounts } from "../../gpu-runner/src/runner/outcome";

export interface EvalCounts {
  unetCalls: number;
  unetSamples: number;
  controlnetCalls: number;
  controlnetSamples: number;
  textEncodings: number;
  vaeDecodes: number;
}

/** Counts per phase id (1 = the base phase, s = the upscaling phase at scale s). */
export type PhaseCounts = Record<number, EvalCounts>;

export const COUNT_KINDS = [
  "unetCalls",
  "unetSamples",
  "controlnetCalls",
  "controlnetSamples",
  "textEncodings",
  "vaeDecodes",
] as const satisfies readonly (keyof EvalCounts)[];

export function zeroCounts(): EvalCounts {
  return { unetCalls: 0, unetSamples: 0, controlnetCalls: 0, controlnetSamples: 0, textEncodings: 0, vaeDecodes: 0 };
}

/** a + k * b, kind by kind. */
export function combine(a: EvalCounts, b: EvalCounts, k = 1): EvalCounts {
  const out = zeroCounts();
  for (const key of COUNT_KINDS) out[key] = a[key] + k * b[key];
  return out;
}

/** Phase ids of a PhaseCounts, ascending. */
export function phaseIds(p: PhaseCounts): number[] {
  return Object.keys(p)
    .map(Number)
    .sort((x, y) => x - y);
}

/** Sum over the given phases (every phase when `ids` is absent); a phase that is not there counts zero. */
export function sumPhases(p: PhaseCounts, ids: readonly number[] = phaseIds(p)): EvalCounts {
  let t = zeroCounts();
  for (const id of ids) if (p[id]) t = combine(t, p[id]);
  return t;
}

/** Our pipeline's per-phase record -> EvalCounts (VAE encodes are not decodes: an image start has them, not us). */
export function fromPhaseCalls(c: PhaseCalls): EvalCounts {
  return { ...batchCounts(c), textEncodings: c.encodeTextCalls, vaeDecodes: c.vaeDecodeCalls };
}

/**
 * Counts as a function of the number of denoising steps n: fixed + perStep * n, per phase. Every count of a job is of
 * this form when the per-step work does not depend on the step (it holds for the loops here: the windows, view
 * batches and dilated samples of a phase are the same at every step; text encodings and decodes happen once per
 * phase). `fitLinear` takes two measurements; `linearityError` checks a third against the fit.
 */
export interface LinearCounts {
  fixed: PhaseCounts;
  perStep: PhaseCounts;
}

export function fitLinear(n1: number, at1: PhaseCounts, n2: number, at2: PhaseCounts): LinearCounts {
  if (n1 === n2) throw new RangeError("fitLinear needs two different step counts");
  const ids = [...new Set([...phaseIds(at1), ...phaseIds(at2)])].sort((a, b) => a - b);
  const fixed: PhaseCounts = {};
  const perStep: PhaseCounts = {};
  for (const id of ids) {
    const a = at1[id] ?? zeroCounts();
    const b = at2[id] ?? zeroCounts();
    const slope = zeroCounts();
    const icpt = zeroCounts();
    for (const k of COUNT_KINDS) {
      const s = (b[k] - a[k]) / (n2 - n1);
      if (!Number.isInteger(s)) throw new RangeError(`phase ${id} ${k}: non-integer count per step ${s}`);
      slope[k] = s;
      icpt[k] = a[k] - s * n1;
    }
    fixed[id] = icpt;
    perStep[id] = slope;
  }
  return { fixed, perStep };
}

export function evaluateLinear(f: LinearCounts, steps: number): PhaseCounts {
  const out: PhaseCounts = {};
  for (const id of phaseIds(f.fixed)) out[id] = combine(f.fixed[id], f.perStep[id], steps);
  return out;
}

/** Differences between a measurement and the fit's prediction, as "phase.kind: measured vs predicted". */
export function linearityError(f: LinearCounts, steps: number, measured: PhaseCounts): string[] {
  const predicted = evaluateLinear(f, steps);
  const ids = [...new Set([...phaseIds(predicted), ...phaseIds(measured)])].sort((a, b) => a - b);
  const out: string[] = [];
  for (const id of ids) {
    const p = predicted[id] ?? zeroCounts();
    const m = measured[id] ?? zeroCounts();
    for (const k of COUNT_KINDS) if (p[k] !== m[k]) out.push(`phase ${id} ${k}: measured ${m[k]} vs predicted ${p[k]}`);
  }
  return out;
}

/** Kind by kind, "ours - reference" (negative: fewer evaluations than the reference). */
export function difference(ours: EvalCounts, reference: EvalCounts): EvalCounts {
  return combine(ours, reference, -1);
}
