import { mean, renormalize, stdUnbiased } from "../../pipeline/tensor/stats";
import { expectClose, readF32 } from "../compare";
import type { GoldenCase, TopicRunner } from "../types";

/** latent_renorm: anchor statistics of the phase-1 latents, then (x - mean)/std * anchorStd + anchorMean. */
const run: TopicRunner = (c: GoldenCase) => {
  const anchor = readF32(c.inputs.anchor_latents);
  const latents = readF32(c.inputs.latents);
  const exp = c.expected;
  const tol = c.tolerance;
  const anchorMean = mean(anchor);
  const anchorStd = stdUnbiased(anchor);
  expectClose("anchor_mean", [anchorMean], Number(exp.anchor_mean), tol);
  expectClose("anchor_std_unbiased", [anchorStd], Number(exp.anchor_std_unbiased), tol);
  expectClose("latents_mean", [mean(latents)], Number(exp.latents_mean), tol);
  expectClose("latents_std_unbiased", [stdUnbiased(latents)], Number(exp.latents_std_unbiased), tol);
  const out = renormalize(latents, anchorMean, anchorStd);
  expectClose("renormalized", out, exp.renormalized, tol, c.inputs.latents.shape);
};

export default run;
