import type { AttentionStoreSnapshot } from "../pipeline/attention";
import type { Injection } from "../pipeline/randomness";
import type { RandInt } from "../pipeline/views";
import { Mismatch } from "./compare";

/** One recorded Python `random.randint(low, high)` call and its result, as golden files list them. */
export type RecordedRandInt = readonly [low: number | string, high: number | string, value: number | string];

/**
 * A RandInt that replays recorded draws in order. Each call must ask for the recorded bounds (so the
 * implementation draws in the reference's order, with its bounds); `assertConsumed` checks none is left.
 */
export function replayRandInt(
  calls: readonly RecordedRandInt[],
  key = "randint",
): RandInt & { assertConsumed(): void } {
  let next = 0;
  const rand = (low: number, high: number): number => {
    if (next >= calls.length)
      throw new Mismatch(`${key}: call ${next} randint(${low}, ${high}) beyond the recorded draws`);
    const [l, h, v] = calls[next];
    if (Number(l) !== low || Number(h) !== high) {
      throw new Mismatch(`${key}: call ${next} randint(${low}, ${high}) != recorded randint(${l}, ${h})`);
    }
    next++;
    return Number(v);
  };
  return Object.assign(rand, {
    assertConsumed(): void {
      if (next !== calls.length) throw new Mismatch(`${key}: ${next} draws made, ${calls.length} recorded`);
    },
  });
}

/** A recorded permutation [N, vb] (one row per element, as torch stacks them) as the pipeline's [vb, N] index. */
export function transposePermutation(data: ArrayLike<number>, N: number, vb: number): Int32Array {
  const out = new Int32Array(N * vb);
  for (let k = 0; k < N; k++) for (let b = 0; b < vb; b++) out[b * N + k] = Number(data[k * vb + b]);
  return out;
}

/** Every random draw of a recorded reference run, in the form the recordings keep them. */
export interface RecordedDraws {
  initialNoise: Float32Array;
  /** The `randn_like` of upscaling phase `phase` (undefined: not recorded). */
  phaseNoise(phase: number): Float32Array | undefined;
  randintCalls: readonly RecordedRandInt[];
  /** The stacked randperm rows [N, vb] of window interaction at (phase, step, batch). */
  shufflePerm(phase: number, step: number, batch: number): { data: ArrayLike<number>; shape: number[] } | undefined;
  attentionStore?: AttentionStoreSnapshot;
}

/**
 * The pipeline's Injection replaying a recorded run's draws (golden `pipeline_trajectory`, the real-architecture
 * reference runs). A draw the pipeline asks for that was not recorded is a Mismatch; `assertConsumed` checks that
 * every recorded randint was used.
 */
export function injectRecordedDraws(d: RecordedDraws): Injection & { assertConsumed(): void } {
  const randInt = replayRandInt(d.randintCalls);
  return {
    initialNoise: d.initialNoise,
    phaseNoise: (phase) => {
      const t = d.phaseNoise(phase);
      if (!t) throw new Mismatch(`no phase_noise for phase ${phase}`);
      return t;
    },
    randInt,
    shuffleIndex: (phase, step, batch) => {
      const t = d.shufflePerm(phase, step, batch);
      if (!t) throw new Mismatch(`no shuffle_perms[${phase}][${step}][${batch}]`);
      return transposePermutation(t.data, t.shape[0], t.shape[1]);
    },
    attentionStore: d.attentionStore,
    assertConsumed: () => randInt.assertConsumed(),
  };
}
