/**
 * Every random draw of a job, from one place: seeded streams by default, or injected values (tests and the golden
 * give every draw of the reference run).
 *
 * Streams are keyed by (seed, purpose, phase), never shared between phases: the draws of phase k do not depend on
 * how many phases follow, so phases 1..k of a 4096^2 render equal those of a 2048^2 render with the same seed and
 * parameters, which is what makes phase caching and resuming possible.
 *   noise/<phase>       phase 1's initial noise, and each upscaling phase's randn_like noise
 *   views/<phase>       the MultiDiffusion window jitter of that phase (drawn step after step)
 *   patch-views         the jitter of the patch-prompt windows, scales 2..S in increasing order (a prefix of it is
 *                       the same whatever S is)
 *   shuffle/<phase>     window-interaction permutations
 *   probe               the noise that probes an uploaded image's attention maps
 */
import type { AttentionStoreSnapshot } from "./attention";
import { invertShuffleIndex } from "./kernels/dilated/reference";
import { shuffleIndexFromWords } from "./kernels/shuffle/js";
import type { StepKernels } from "./kernels/stepKernels";
import { gaussian, randIntStream, SeededStream } from "./rng";
import type { RandInt, View } from "./views";

/** Where shuffleIndex draws its words (a view of the phase memory) and the backend that builds the permutations. */
export interface ShuffleScratch {
  kernels: StepKernels;
  /** At least (B-1)*n words. */
  words: Uint32Array;
}

/** Values that replace the seeded draws (each optional). */
export interface Injection {
  /** Phase 1's unscaled initial noise (replaces randn_tensor). */
  initialNoise?: Float32Array;
  /** Phase `phase`'s noise (replaces torch.randn_like), of `length` elements. */
  phaseNoise?: (phase: number, length: number) => Float32Array;
  /**
   * One Python `random.randint` sequence for the whole job, consumed in the reference's order (patch-prompt windows
   * after phase 1, then the per-step MultiDiffusion windows). Replaces every jitter stream.
   */
  randInt?: RandInt;
  /** MultiDiffusion windows of (phase, step), padded frame; wins over randInt for those windows. */
  views?: (phase: number, step: number) => View[] | undefined;
  /** Window-interaction index [B, n] (shuffled[b, i] = x[index[b, i], i]) for (phase, step, batch). */
  shuffleIndex?: (phase: number, step: number, batch: number, B: number, n: number) => Int32Array;
  /** Replaces the attention collected in phase 1 by a reference AttentionStore. */
  attentionStore?: AttentionStoreSnapshot;
}

export class RandomSource {
  private readonly viewStreams = new Map<number, RandInt>();
  private readonly shuffleStreams = new Map<number, SeededStream>();
  private words?: Uint32Array;
  private patchStream: RandInt | undefined;

  constructor(
    readonly seed: number,
    readonly inject: Injection = {},
  ) {}

  initialNoise(length: number): Float32Array {
    const given = this.inject.initialNoise;
    if (given) return checkLength(given, length, "initialNoise");
    return gaussian(this.seed, "noise/1", length);
  }

  phaseNoise(phase: number, length: number): Float32Array {
    const given = this.inject.phaseNoise?.(phase, length);
    if (given) return checkLength(given, length, `phaseNoise(${phase})`);
    return gaussian(this.seed, `noise/${phase}`, length);
  }

  probeNoise(length: number): Float32Array {
    return gaussian(this.seed, "probe", length);
  }

  /** Jitter of the patch-prompt windows (all scales, in order). */
  patchViewJitter(): RandInt {
    if (this.inject.randInt) return this.inject.randInt;
    this.patchStream ??= randIntStream(this.seed, "patch-views");
    return this.patchStream;
  }

  /** Jitter of phase `phase`'s MultiDiffusion windows (one stream across its steps). */
  viewJitter(phase: number): RandInt {
    if (this.inject.randInt) return this.inject.randInt;
    let s = this.viewStreams.get(phase);
    if (!s) {
      s = randIntStream(this.seed, `views/${phase}`);
      this.viewStreams.set(phase, s);
    }
    return s;
  }

  injectedViews(phase: number, step: number): View[] | undefined {
    return this.inject.views?.(phase, step);
  }

  /**
   * Window-interaction permutations [B, n] for one dilated batch (written into `out`). With `scratch` the draws go
   * into its words and its backend builds the permutations (in WebAssembly on the phase memory: the same indices).
   */
  shuffleIndex(
    phase: number,
    step: number,
    batch: number,
    B: number,
    n: number,
    out: Int32Array,
    scratch?: ShuffleScratch,
  ): Int32Array {
    const given = this.inject.shuffleIndex?.(phase, step, batch, B, n);
    if (given) {
      if (given.length !== B * n) throw new RangeError(`shuffleIndex(${phase}, ${step}, ${batch}): need ${B}x${n}`);
      // The fused kernels trust the index to hold a permutation per column: check injected ones (throws if not).
      invertShuffleIndex(given, B, n);
      out.set(given);
      return out;
    }
    let stream = this.shuffleStreams.get(phase);
    if (!stream) {
      stream = new SeededStream(this.seed, `shuffle/${phase}`);
      this.shuffleStreams.set(phase, stream);
    }
    // Fisher-Yates per column with uniform word * 2^-32, as randomShuffleIndex draws them (same indices).
    const need = (B - 1) * n;
    let words: Uint32Array;
    if (scratch && scratch.words.length >= need) {
      words = stream.fillU32(scratch.words.subarray(0, need));
      return scratch.kernels.shuffleFromWords(B, n, words, out);
    } else {
      if (!this.words || this.words.length < need) this.words = new Uint32Array(need);
      words = stream.fillU32(this.words.subarray(0, need));
    }
    return shuffleIndexFromWords(B, n, words, out);
  }
}

function checkLength(x: Float32Array, n: number, what: string): Float32Array {
  if (x.length !== n) throw new RangeError(`${what}: expected ${n} values, got ${x.length}`);
  return x;
}
