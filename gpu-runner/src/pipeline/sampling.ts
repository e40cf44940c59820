/**
 * The small pieces every denoising call shares: which sigma scales the model input and steps the sample (correct, or
 * the reference's stale step index), the classifier-free-guidance batch layout, and the guidance combination.
 */
import { type EulerSchedule, eulerStep, modelInputDivisor, ReferenceStepIndex } from "./scheduler";
import { float32Reciprocal } from "./tensor/float32";

const f = Math.fround;

/**
 * The sampler's clock for one job. The default scales the model input of step i with sigmas[i]. With
 * the `staleStepIndex` quirk it replays diffusers 0.21.4's stateful step index exactly as the reference drives it (one
 * scheduler for the whole job): phase 1 never re-initialises the index; upscaling phases call `_init_step_index(t)`
 * before every `step()`, so their first input is scaled with sigmas[n] = 0 and later batches of a step with
 * sigmas[i+1] (golden `scheduler_call_sequence`).
 */
export class SigmaClock {
  private readonly ref: ReferenceStepIndex | null;

  constructor(
    readonly schedule: EulerSchedule,
    staleStepIndex: boolean,
  ) {
    this.ref = staleStepIndex ? new ReferenceStepIndex(schedule.timesteps) : null;
  }

  get steps(): number {
    return this.schedule.timesteps.length;
  }

  timestep(i: number): number {
    return this.schedule.timesteps[i];
  }

  /** The divisor `scale_model_input` applies to a model input of step i (consumes the compat state). */
  inputDivisor(i: number): number {
    const idx = this.ref ? this.ref.scaleSigmaIndex(this.schedule.timesteps[i]) : i;
    return modelInputDivisor(this.schedule.sigmas[idx]);
  }

  /**
   * One Euler step of `sample` with guided noise `eps`, in place into `out`. `reinit` is the reference's
   * `_init_step_index(t)` before the step (upscaling phases); phase 1 steps without it.
   */
  step(i: number, eps: Float32Array, sample: Float32Array, out: Float32Array, reinit: boolean): void {
    const { sigma, sigmaNext } = this.stepSigmas(i, reinit);
    eulerStep(eps, sample, sigma, sigmaNext, out);
  }

  /**
   * The sigmas one Euler step of step i goes from and to, consuming the compat state exactly as `step` does (one call
   * per model batch): for kernels that fuse the step with their other per-element work (see `eulerValue`).
   */
  stepSigmas(i: number, reinit: boolean): { sigma: number; sigmaNext: number } {
    let idx = i;
    if (this.ref) {
      const t = this.schedule.timesteps[i];
      if (reinit) this.ref.initStepIndex(t);
      idx = this.ref.stepSigmaIndex(t);
      this.ref.afterStep();
    }
    return { sigma: this.schedule.sigmas[idx], sigmaNext: this.schedule.sigmas[idx + 1] };
  }

  /**
   * Puts the compat state where an uninterrupted run has it after a completed phase (index n), so that a resumed job
   * scales its next phase's first input exactly like the uninterrupted one.
   */
  markPhaseCompleted(): void {
    if (!this.ref) return;
    const n = this.steps;
    this.ref.initStepIndex(this.schedule.timesteps[n - 1]);
    this.ref.afterStep();
  }
}

/**
 * The model input of a batch for classifier-free guidance: `repeat_interleave(x, 2)` then `scale_model_input`
 * (`x / divisor`): rows [x0, x0, x1, x1, ...]. `per` = elements per sample. `out` has 2*vb*per elements.
 */
export function cfgModelInput(
  x: Float32Array,
  vb: number,
  per: number,
  divisor: number,
  out: Float32Array,
): Float32Array {
  const r = float32Reciprocal(divisor); // x / divisor, exactly (stored as float32)
  for (let b = 0; b < vb; b++) {
    const s = b * per;
    const d0 = 2 * b * per;
    const d1 = d0 + per;
    for (let k = 0; k < per; k++) {
      const v = x[s + k] * r;
      out[d0 + k] = v;
      out[d1 + k] = v;
    }
  }
  return out;
}

/**
 * `eps_u + scale * (eps_t - eps_u)` with the uncond rows even and the text rows odd, in float32 (the reference's
 * python-float scale meets a float32 tensor). Writes vb*per elements into `out`.
 */
export function cfgGuidance(
  noise: Float32Array,
  vb: number,
  per: number,
  scale: number,
  out: Float32Array,
): Float32Array {
  const g = f(scale);
  for (let b = 0; b < vb; b++) {
    const u = 2 * b * per;
    const t = u + per;
    const o = b * per;
    for (let k = 0; k < per; k++) out[o + k] = cfgValue(noise[u + k], noise[t + k], g);
  }
  return out;
}

/** One element of `cfgGuidance`: `eu + g*(et - eu)` in float32 (`g` already float32). */
export function cfgValue(eu: number, et: number, g: number): number {
  return f(eu + f(g * f(et - eu)));
}

/** A Float32Array of at least `n` elements, reusing `buf` when it is large enough (callers use subarray(0, n)). */
export function ensure(buf: Float32Array | undefined, n: number): Float32Array {
  return buf && buf.length >= n ? buf : new Float32Array(n);
}
