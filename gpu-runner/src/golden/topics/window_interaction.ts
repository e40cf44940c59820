import { invertShuffleIndex, shuffleSamples, unshuffleSamples } from "../../pipeline/kernels/dilated/reference";
import { expectExact, Mismatch, readF32 } from "../compare";
import type { GoldenCase, TopicRunner } from "../types";

/**
 * window_interaction: the shuffle index comes from PyTorch's generator, so it is read as an input;
 * its inverse, the shuffled batch and the recovered batch are checked exactly.
 */
const run: TopicRunner = (c: GoldenCase) => {
  const shape = (c.inputs.shape as number[]).map(Number);
  const B = shape[0];
  const n = shape.slice(1).reduce((a, b) => a * b, 1);
  const x = readF32(c.inputs.x);
  const shuffleIndex = Int32Array.from((c.expected.shuffle_index.data as (number | string)[]).map(Number));

  const originalIndex = invertShuffleIndex(shuffleIndex, B, n);
  expectExact("original_index", originalIndex, c.expected.original_index);
  const shuffled = shuffleSamples(x, shuffleIndex, B, n);
  expectExact("shuffled", shuffled, Array.from(readF32(c.expected.shuffled)));
  const recovered = unshuffleSamples(shuffled, originalIndex, B, n);
  expectExact("recovered", recovered, Array.from(readF32(c.expected.recovered)));
  if (!recovered.every((v, i) => Object.is(v, x[i]))) throw new Mismatch("recovered != x");
};

export default run;
