/** The JavaScript backend of StepKernels: the fused JS forms, on any arrays. */
import { dilatedModelInput, scatterGuided } from "./dilated/js";
import { gaussianFilter } from "./gaussian/js";
import { fromHalfArray, toHalfArray } from "./halfFloat/js";
import { accumulateGuided, viewModelInput } from "./multiDiffusion/js";
import { shuffleIndexFromWords } from "./shuffle/js";
import { fuseBranches, skipResidualNoised } from "./stepFusion/js";
import type { StepKernels } from "./stepKernels";

export const JS_STEP_KERNELS: StepKernels = Object.freeze({
  backend: "js",
  addresses: () => false,
  viewModelInput,
  accumulateGuided,
  skipResidualNoised,
  fuseBranches: (local, fallback, global, c2, planes, plane, out, scratch) =>
    fuseBranches(local, fallback, global, c2, planes, plane, out, scratch),
  dilatedModelInput,
  scatterGuided,
  gaussianFilter,
  toHalf(src, dst) {
    toHalfArray(src, dst);
  },
  fromHalf(src, dst) {
    fromHalfArray(src, dst);
  },
  shuffleFromWords: shuffleIndexFromWords,
} satisfies StepKernels);
