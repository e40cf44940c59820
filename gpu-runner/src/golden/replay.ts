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
