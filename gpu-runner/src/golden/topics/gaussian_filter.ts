import { gaussianFilter, gaussianFilterRenormalized, gaussianKernel2d } from "../../pipeline/kernels/gaussian/js";
import { mean, stdUnbiased } from "../../pipeline/tensor/stats";
import { expectClose, readF32 } from "../compare";
import type { GoldenCase, TopicRunner } from "../types";

/** gaussian_filter: float32 kernel, depthwise zero-padded blur, renormalisation to the input's mean/unbiased std. */
const run: TopicRunner = (c: GoldenCase) => {
  const { latents } = c.inputs;
  const [n, ch, h, w] = latents.shape as number[];
  const k = Number(c.inputs.kernel_size);
  const sigma = Math.fround(Number(c.inputs.sigma));
  const x = readF32(latents);
  const tol = c.tolerance;
  const e = c.expected;

  expectClose("kernel2d", gaussianKernel2d(k, sigma), e.kernel2d, tol, [k, k]);
  const blurred = gaussianFilter(x, n * ch, h, w, k, sigma);
  expectClose("blurred", blurred, e.blurred, tol, latents.shape);
  expectClose("blurred_mean", [mean(blurred)], Number(e.blurred_mean), tol);
  expectClose("blurred_std_unbiased", [stdUnbiased(blurred)], Number(e.blurred_std_unbiased), tol);

  const renormalized = new Float32Array(x.length);
  const stats = gaussianFilterRenormalized(x, n * ch, h, w, k, sigma, renormalized);
  expectClose("input_mean", [stats.inputMean], Number(e.input_mean), tol);
  expectClose("input_std_unbiased", [stats.inputStd], Number(e.input_std_unbiased), tol);
  expectClose("renormalized", renormalized, e.renormalized, tol, latents.shape);
};

export default run;
