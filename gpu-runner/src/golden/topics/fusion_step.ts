import { cosineFactors } from "../../pipeline/cosine";
import {
  cropTopLeft,
  type DilatedOffset,
  dilatedGaussianSigma,
  dilatedOffsets,
  prepareDilatedInputs,
  scatterDilated,
} from "../../pipeline/kernels/dilated/reference";
import {
  accumulateView,
  createAccumulator,
  finishMultiDiffusion,
  gatherViews,
} from "../../pipeline/kernels/multiDiffusion/reference";
import type { ViewBox } from "../../pipeline/kernels/multiDiffusion/viewBox";
import { blendBranches, skipResidual } from "../../pipeline/kernels/stepFusion/reference";
import { branchWeights } from "../../pipeline/kernels/stepFusion/weights";
import { padPlanes } from "../../pipeline/tensor/pad";
import { expectClose, expectExact, readF32 } from "../compare";
import type { GoldenCase, GoldenTensor, TopicRunner } from "../types";

/** fusion_step: one upscaling step (skip residual, jittered MultiDiffusion, dilated sampling, c2 blend). */
const run: TopicRunner = (c: GoldenCase) => {
  const inp = c.inputs;
  const e = c.expected;
  const tol = c.tolerance;
  const [n, ch, H, W] = (inp.latent_shape as number[]).map(Number);
  const planes = n * ch;
  const plane = H * W;
  const s = Number(inp.scale);
  const jr = Number(inp.jitter_range);

  const { cf, c1, c2, c3 } = cosineFactors(
    Number(inp.timestep),
    Number(inp.cosine_scale_1),
    Number(inp.cosine_scale_2),
    Number(inp.cosine_scale_3),
  );
  expectClose("cosine_factor", [cf], Number(e.cosine_factor), tol);
  expectClose("c1", [c1], Number(e.c1), tol);
  expectClose("c2", [c2], Number(e.c2), tol);
  expectClose("c3", [c3], Number(e.c3), tol);

  // 1. Skip residual.
  const latents = skipResidual(readF32(inp.latents), readF32(inp.noise_latents_i), c1);
  expectClose("latents_after_skip", latents, e.latents_after_skip, tol);

  // 2. MultiDiffusion in the jitter-padded frame.
  const PH = H + 2 * jr;
  const PW = W + 2 * jr;
  const padded = padPlanes(latents, planes, H, W, { top: jr, bottom: jr, left: jr, right: jr });
  const views = inp.views as ViewBox[];
  const localDenoised = inp.local_denoised as GoldenTensor[];
  const acc = createAccumulator(planes, PH, PW);
  views.forEach((view, v) => {
    if (e.local_view_inputs) {
      const input = gatherViews(padded, planes, PH, PW, [view]);
      expectClose(`local_view_inputs[${v}]`, input.data, e.local_view_inputs[v], tol);
    }
    accumulateView(acc, view, readF32(localDenoised[v]));
  });
  const valueLocal = new Float32Array(planes * plane);
  const countLocal = new Float32Array(plane);
  const uncovered = finishMultiDiffusion(acc, jr, H, W, readF32(inp.noise_latents_next), valueLocal, countLocal);
  expectClose("value_local", valueLocal, e.value_local, tol);
  const countAll = new Float32Array(planes * plane);
  for (let p = 0; p < planes; p++) countAll.set(countLocal, p * plane);
  expectClose("count_local", countAll, e.count_local, tol);
  expectExact("num_uncovered_pixels", uncovered, Number(e.num_uncovered_pixels));

  // 3. Dilated sampling: top/left pad, Gaussian on the padded latent, scatter, crop.
  const sigma = dilatedGaussianSigma(Number(inp.sigma), c3);
  expectClose("gaussian_sigma", [sigma], Number(e.gaussian_sigma), tol);
  const dil = prepareDilatedInputs(latents, planes, H, W, s, sigma);
  expectExact("h_pad", dil.hPad, Number(e.h_pad));
  expectExact("w_pad", dil.wPad, Number(e.w_pad));
  expectClose("padded_mean", [dil.paddedMean], Number(e.padded_mean), tol);
  expectClose("padded_std_unbiased", [dil.paddedStd], Number(e.padded_std_unbiased), tol);
  expectClose("latents_gaussian", dil.filtered, e.latents_gaussian, tol);
  const offsets = (inp.dilated_offsets as number[][]).map(([h, w]) => [h, w] as DilatedOffset);
  expectExact("dilated_offsets", offsets, dilatedOffsets(s));
  const valueGlobalPadded = new Float32Array(planes * dil.paddedH * dil.paddedW);
  const dilatedDenoised = inp.dilated_denoised as GoldenTensor[];
  offsets.forEach((o, k) => {
    scatterDilated(valueGlobalPadded, planes, dil.paddedH, dil.paddedW, s, [o], readF32(dilatedDenoised[k]));
  });
  const valueGlobal = cropTopLeft(valueGlobalPadded, planes, dil.paddedH, dil.paddedW, dil.hPad, dil.wPad);
  expectClose("value_global", valueGlobal, e.value_global, tol);

  // 4. The c2 blend.
  expectClose("count_total", [branchWeights(c2).total], Number(e.count_total), tol);
  const out = blendBranches(
    { value: valueLocal, count: countLocal },
    valueGlobal,
    c2,
    planes,
    plane,
    new Float32Array(planes * plane),
  );
  expectClose("latents_out", out, e.latents_out, tol);
};

export default run;
