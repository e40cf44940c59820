import {
  addNoise,
  eulerSchedule,
  eulerStep,
  modelInputDivisor,
  predictOriginal,
  scaleModelInput,
  schedulerConfigFromDiffusers,
  stepIndexOf,
  trainAlphasCumprod,
  trainSigmas,
} from "../../pipeline/scheduler";
import { expectClose, expectExact, Mismatch, readF32 } from "../compare";
import type { GoldenCase, TopicRunner } from "../types";

/** euler_scheduler: diffusers 0.21.4 EulerDiscreteScheduler (schedule, scale_model_input, step, add_noise). */
const run: TopicRunner = (c: GoldenCase) => {
  const inp = c.inputs;
  const exp = c.expected;
  const tol = c.tolerance;
  const config = schedulerConfigFromDiffusers(inp.config);
  const n = Number(inp.num_inference_steps);
  const sched = eulerSchedule(config, n);
  // Every case names the step by its timestep; the index must follow from it as in the reference.
  if (inp.timestep !== undefined) {
    expectExact("step_index", stepIndexOf(sched.timesteps, Number(inp.timestep)), Number(inp.step_index));
  }
  const k = Number(inp.step_index);

  switch (inp.kind) {
    case "schedule": {
      expectClose("timesteps", sched.timesteps, exp.timesteps, tol, [n]);
      expectClose("sigmas", sched.sigmas, exp.sigmas, tol, [n + 1]);
      expectClose("init_noise_sigma", [sched.initNoiseSigma], Number(exp.init_noise_sigma), tol);
      const divisors = Array.from(sched.sigmas.subarray(0, n), modelInputDivisor);
      expectClose("scale_model_input_divisors", divisors, exp.scale_model_input_divisors, tol, [n]);
      // The reference divides; its "factor" is the float32 reciprocal of the divisor.
      const factors = divisors.map((d) => Math.fround(1 / d));
      expectClose("scale_model_input_factors", factors, exp.scale_model_input_factors, tol, [n]);
      expectExact("step_ratio", Math.floor(config.numTrainTimesteps / n), exp.step_ratio);
      if (exp.alphas_cumprod) expectClose("alphas_cumprod", trainAlphasCumprod(config), exp.alphas_cumprod, tol);
      if (exp.train_sigmas) expectClose("train_sigmas", trainSigmas(config), exp.train_sigmas, tol);
      return;
    }
    case "step": {
      const sample = readF32(inp.sample);
      const eps = readF32(inp.model_output);
      const sigma = sched.sigmas[k];
      const sigmaNext = sched.sigmas[k + 1];
      expectClose("sigma", [sigma], Number(exp.sigma), tol);
      expectClose("sigma_next", [sigmaNext], Number(exp.sigma_next), tol);
      expectClose("pred_original_sample", predictOriginal(eps, sample, sigma), exp.pred_original_sample, tol);
      expectClose("prev_sample", eulerStep(eps, sample, sigma, sigmaNext), exp.prev_sample, tol, inp.sample.shape);
      return;
    }
    case "scale_model_input": {
      const scaled = scaleModelInput(readF32(inp.sample), sched.sigmas[k]);
      expectClose("scaled", scaled, exp.scaled, tol, inp.sample.shape);
      return;
    }
    case "add_noise": {
      const sigma = sched.sigmas[k];
      expectClose("sigma", [sigma], Number(exp.sigma), tol);
      const noisy = addNoise(readF32(inp.original_samples), readF32(inp.noise), sigma);
      expectClose("noisy_samples", noisy, exp.noisy_samples, tol, inp.original_samples.shape);
      return;
    }
    default:
      throw new Mismatch(`unknown kind ${inp.kind}`);
  }
};

export default run;
