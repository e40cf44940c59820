/**
 * Euler discrete scheduler, bit-compatible with diffusers 0.21.4 `EulerDiscreteScheduler` in float32
 * (no churn, epsilon prediction, linear sigma interpolation): the sampler AccDiffusion v2 runs for
 * every phase.
 *
 * The training noise levels are built the way PyTorch builds them on the CPU (see `torchLinspaceF32`),
 * so `alphasCumprod` and the training sigmas equal the reference's float32 tensors exactly.
 * Per-element updates round every intermediate result to float32 like the reference's tensor ops.
 */
import type { SchedulerConfig } from "../models/types";
import { float32Reciprocal } from "./tensor/float32";

const f32 = Math.fround;

/** The schedule one denoising phase walks. */
export interface EulerSchedule {
  /** Model timesteps, descending (float32 values, e.g. 981, 961, ..., 1 for 50 steps). */
  timesteps: Float32Array;
  /** Noise levels per step plus a trailing 0 (length n + 1). */
  sigmas: Float32Array;
  /** Std of the initial noise: sqrt(max(sigma)^2 + 1) for "leading" spacing, max(sigma) otherwise. */
  initNoiseSigma: number;
}

/** The snake_case scheduler config diffusers writes (scheduler_config.json, golden inputs). */
export interface DiffusersSchedulerConfig {
  num_train_timesteps: number;
  beta_start: number;
  beta_end: number;
  beta_schedule: string;
  timestep_spacing?: string;
  steps_offset?: number;
  prediction_type?: string;
  interpolation_type?: string;
  use_karras_sigmas?: boolean;
}

/** Converts a diffusers config, refusing the options this scheduler does not implement. */
export function schedulerConfigFromDiffusers(raw: DiffusersSchedulerConfig): SchedulerConfig {
  const betaSchedule = raw.beta_schedule;
  if (betaSchedule !== "scaled_linear" && betaSchedule !== "linear") {
    throw new Error(`unsupported beta_schedule '${betaSchedule}'`);
  }
  const spacing = raw.timestep_spacing ?? "linspace"; // the diffusers default
  if (spacing !== "leading" && spacing !== "trailing" && spacing !== "linspace") {
    throw new Error(`unsupported timestep_spacing '${spacing}'`);
  }
  if ((raw.prediction_type ?? "epsilon") !== "epsilon") throw new Error("only epsilon prediction is supported");
  if ((raw.interpolation_type ?? "linear") !== "linear")
    throw new Error("only linear sigma interpolation is supported");
  if (raw.use_karras_sigmas) throw new Error("Karras sigmas are not supported");
  return {
    numTrainTimesteps: raw.num_train_timesteps,
    betaStart: raw.beta_start,
    betaEnd: raw.beta_end,
    betaSchedule,
    timestepSpacing: spacing,
    stepsOffset: raw.steps_offset ?? 0,
    predictionType: "epsilon",
  };
}

/**
 * `torch.linspace(start, end, n, dtype=float32)` as the PyTorch CPU kernel the reference ran computes it:
 * 8-wide vectors whose base is `start + step*idx` (first half) or `end - step*(n-1-idx)` (second half)
 * with the multiply-add contracted into one FMA, then `base + k*step` per lane; a scalar tail after the
 * last full pair of vectors. A plain float32 or float64 linspace differs in the last bit for ~60% of
 * the betas, which would shift alphas_cumprod (checked against the golden alphas_cumprod: exact).
 */
export function torchLinspaceF32(startD: number, endD: number, n: number): Float32Array {
  const out = new Float32Array(n);
  if (n === 1) {
    out[0] = startD;
    return out;
  }
  const start = f32(startD);
  const end = f32(endD);
  const step = f32(f32(end - start) / (n - 1));
  const half = Math.floor(n / 2);
  // step*idx is exact in float64 (24-bit mantissa times idx < 2^29), so one fround = one FMA rounding.
  const fused = (idx: number) => (idx < half ? f32(start + step * idx) : f32(end - step * (n - idx - 1)));
  // cpu_serial_kernel_vec: two 8-lane vectors per iteration while 16 elements remain, then scalars.
  const lanes = 8;
  let i = 0;
  for (; i + 2 * lanes <= n; i += 2 * lanes) {
    for (let v = i; v < i + 2 * lanes; v += lanes) {
      const base = fused(v);
      for (let k = 0; k < lanes; k++) out[v + k] = f32(base + f32(k * step));
    }
  }
  for (; i < n; i++) out[i] = fused(i);
  return out;
}

/** alphas_cumprod of the training schedule (float32; the CPU cumprod accumulates in float64). */
export function trainAlphasCumprod(config: SchedulerConfig): Float32Array {
  const n = config.numTrainTimesteps;
  const betas =
    config.betaSchedule === "scaled_linear"
      ? torchLinspaceF32(Math.sqrt(config.betaStart), Math.sqrt(config.betaEnd), n)
      : torchLinspaceF32(config.betaStart, config.betaEnd, n);
  const out = new Float32Array(n);
  let acc = 1;
  for (let i = 0; i < n; i++) {
    const b = config.betaSchedule === "scaled_linear" ? f32(betas[i] * betas[i]) : betas[i];
    acc *= f32(1 - b);
    out[i] = acc;
  }
  return out;
}

/** Training noise levels ((1 - a)/a)^0.5 per training timestep, float32. */
export function trainSigmas(config: SchedulerConfig): Float32Array {
  const ac = trainAlphasCumprod(config);
  const out = new Float32Array(ac.length);
  for (let i = 0; i < ac.length; i++) out[i] = Math.sqrt(f32(f32(1 - ac[i]) / ac[i]));
  return out;
}

/** numpy's round(): half to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Inference timesteps for `steps` steps, descending, as float32 (diffusers set_timesteps). */
export function eulerTimesteps(config: SchedulerConfig, steps: number): Float32Array {
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`steps must be a positive integer, got ${steps}`);
  const T = config.numTrainTimesteps;
  const out = new Float32Array(steps);
  if (config.timestepSpacing === "leading") {
    const ratio = Math.floor(T / steps);
    for (let k = 0; k < steps; k++) out[k] = (steps - 1 - k) * ratio + config.stepsOffset;
  } else if (config.timestepSpacing === "trailing") {
    // np.arange(T, 0, -T/steps).round() - 1: arange computes start + k*delta in float64.
    const delta = -T / steps;
    for (let k = 0; k < steps; k++) out[k] = f32(roundHalfEven(T + k * delta)) - 1;
  } else {
    // np.linspace(0, T-1, steps, float32) reversed: float64 arithmetic, last value exactly T-1.
    const div = steps - 1;
    const delta = div > 0 ? (T - 1) / div : 0;
    for (let k = 0; k < steps; k++) out[steps - 1 - k] = k === div && div > 0 ? T - 1 : k * delta;
  }
  return out;
}

/** np.interp(x, arange(len(fp)), fp) for one x, in float64 like numpy. */
function interpIndex(x: number, fp: Float32Array): number {
  const last = fp.length - 1;
  if (x <= 0) return fp[0];
  if (x >= last) return fp[last];
  const j = Math.floor(x);
  if (x === j) return fp[j];
  const slope = fp[j + 1] - fp[j];
  return slope * (x - j) + fp[j];
}

/** The full inference schedule (diffusers `set_timesteps` + `init_noise_sigma`). */
export function eulerSchedule(config: SchedulerConfig, steps: number): EulerSchedule {
  const timesteps = eulerTimesteps(config, steps);
  const train = trainSigmas(config);
  const sigmas = new Float32Array(steps + 1); // trailing 0 from the zero-fill
  let max = 0;
  for (let k = 0; k < steps; k++) {
    sigmas[k] = interpIndex(timesteps[k], train);
    if (sigmas[k] > max) max = sigmas[k];
  }
  const initNoiseSigma = config.timestepSpacing === "leading" ? modelInputDivisor(max) : max;
  return { timesteps, sigmas, initNoiseSigma };
}

/** (sigma^2 + 1)^0.5 in float32: what scale_model_input divides by. */
export function modelInputDivisor(sigma: number): number {
  const s = f32(sigma);
  return f32(Math.sqrt(f32(f32(s * s) + 1)));
}

/** sample / (sigma^2 + 1)^0.5 per element (the reference divides; multiplying by 1/d differs in the last bit). */
export function scaleModelInput(sample: Float32Array, sigma: number, out?: Float32Array): Float32Array {
  const res = out ?? new Float32Array(sample.length);
  const d = modelInputDivisor(sigma);
  for (let i = 0; i < sample.length; i++) res[i] = sample[i] / d;
  return res;
}

/** x0 = sample - sigma*eps (epsilon prediction), float32. */
export function predictOriginal(
  eps: Float32Array,
  sample: Float32Array,
  sigma: number,
  out?: Float32Array,
): Float32Array {
  const res = out ?? new Float32Array(sample.length);
  const s = f32(sigma);
  for (let i = 0; i < sample.length; i++) res[i] = sample[i] - f32(s * eps[i]);
  return res;
}

/**
 * One Euler step from sigma to sigmaNext without churn: x0 = x - sigma*eps, d = (x - x0)/sigma,
 * x' = x + d*(sigmaNext - sigma). Keeps the reference's detour through x0 because d is not exactly eps
 * in float32. `out` may alias `sample`.
 */
export function eulerStep(
  eps: Float32Array,
  sample: Float32Array,
  sigma: number,
  sigmaNext: number,
  out?: Float32Array,
): Float32Array {
  const res = out ?? new Float32Array(sample.length);
  const s = f32(sigma);
  const dt = f32(f32(sigmaNext) - s);
  const rs = float32Reciprocal(s);
  for (let i = 0; i < sample.length; i++) res[i] = eulerValue(sample[i], eps[i], s, dt, rs);
  return res;
}

/**
 * One element of `eulerStep`, rounded to float32: `s` = float32 sigma, `dt` = float32(float32(sigmaNext) - s),
 * `rs` = float32Reciprocal(s) (`(x - x0) / s` as an exact multiplication). Fused kernels call it so that their steps
 * are the scheduler's, bit for bit.
 */
export function eulerValue(x: number, eps: number, s: number, dt: number, rs: number): number {
  const x0 = f32(x - f32(s * eps));
  const d = f32(f32(x - x0) * rs);
  return f32(x + f32(d * dt));
}

/** original + noise*sigma (diffusers add_noise, with sigma = sigmas[index of t]), float32. */
export function addNoise(original: Float32Array, noise: Float32Array, sigma: number, out?: Float32Array): Float32Array {
  const res = out ?? new Float32Array(original.length);
  const s = f32(sigma);
  for (let i = 0; i < original.length; i++) res[i] = original[i] + f32(noise[i] * s);
  return res;
}

/**
 * The step index diffusers derives from a timestep (`_init_step_index`): the position of t in the
 * timesteps, or the second position when t occurs more than once.
 */
export function stepIndexOf(timesteps: Float32Array, t: number): number {
  let first = -1;
  for (let k = 0; k < timesteps.length; k++) {
    if (timesteps[k] === t) {
      if (first >= 0) return k;
      first = k;
    }
  }
  if (first < 0) throw new Error(`timestep ${t} is not in the schedule`);
  return first;
}

/**
 * Emulates the stateful `_step_index` of diffusers 0.21.4, for the `staleStepIndex` quirk only.
 *
 * The quirk: `scale_model_input(x, t)` initialises the index from t only when it is unset, and
 * `set_timesteps` (the only reset) runs once per job. AccDiffusion's upscaling loop calls
 * `_init_step_index(t)` after `scale_model_input` and before every `step()`, and each `step()` advances
 * the index. Hence, within an upscaling phase:
 *   - the first batch of step 0 after a completed phase is scaled with sigmas[n] = 0 (not scaled at all);
 *   - the first batch of step i > 0 is scaled with sigmas[i] (correct);
 *   - every later batch of step i (extra view batches, the dilated batch) uses sigmas[i + 1];
 *   - `step()` always uses sigmas[i] -> sigmas[i + 1].
 * Call protocol per model batch: `scaleSigmaIndex(t)`, then (upscaling phases only) `initStepIndex(t)`,
 * then the step with `stepSigmaIndex(t)`, then `afterStep()`.
 */
export class ReferenceStepIndex {
  private index: number | null = null;

  constructor(private readonly timesteps: Float32Array) {}

  /** The index `scale_model_input(x, t)` reads sigma from (set from t first if unset). */
  scaleSigmaIndex(t: number): number {
    if (this.index === null) this.index = stepIndexOf(this.timesteps, t);
    return this.index;
  }

  /** `scheduler._init_step_index(t)`. */
  initStepIndex(t: number): void {
    this.index = stepIndexOf(this.timesteps, t);
  }

  /** The index `step(eps, t, x)` reads sigma from (sigma_next is the one after it). */
  stepSigmaIndex(t: number): number {
    if (this.index === null) this.index = stepIndexOf(this.timesteps, t);
    return this.index;
  }

  /** The increment at the end of `step()`. */
  afterStep(): void {
    if (this.index === null) throw new Error("afterStep before any step");
    this.index += 1;
  }

  /** The current index (null until first used), e.g. n after a completed phase. */
  get current(): number | null {
    return this.index;
  }
}

/**
 * Which sigma index the model input of step i is scaled with: i in the default (correct) mode, the
 * reference's stateful index when `ref` is given (see ReferenceStepIndex).
 */
export function modelInputSigmaIndex(schedule: EulerSchedule, i: number, ref?: ReferenceStepIndex | null): number {
  return ref ? ref.scaleSigmaIndex(schedule.timesteps[i]) : i;
}

/** The sigma the model input of step i is scaled with (see modelInputSigmaIndex). */
export function modelInputSigma(schedule: EulerSchedule, i: number, ref?: ReferenceStepIndex | null): number {
  return schedule.sigmas[modelInputSigmaIndex(schedule, i, ref)];
}
