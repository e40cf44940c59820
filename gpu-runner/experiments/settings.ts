/**
 * The experiment settings: each is a set of pipeline switches (PipelineRequest fields) on top of a common request.
 *
 * The ladder follows the paper's argument, one mechanism at a time. Every setting keeps progressive upscaling and the
 * skip residual on (the DemoFusion base AccDiffusion builds on) unless it says otherwise, so the rungs differ in
 * exactly the switch they name:
 *
 *   multidiffusion              identical prompt on every window, no skip residual (plain MultiDiffusion)
 *   identical-prompts           identical prompt on every window (skip residual on)
 *   identical-prompts+dilated   + dilated sampling with window interaction (DemoFusion's recipe)
 *   patch-prompts               patch-content-aware prompts instead of the identical prompt
 *   patch-prompts+controlnet    + canny ControlNet on every window
 *   patch-prompts(+controlnet)-no-skip   the same pair with the skip residual off, which otherwise pins the
 *                               layout by itself and leaves the ControlNet little to do
 *   full                        + dilated sampling with window interaction (AccDiffusion v2, every switch on)
 *   full-no-window-interaction  full, with the shuffle between dilated samples off
 *   dilated-only(-no-window-interaction)  no MultiDiffusion windows: dilated sampling alone, with / without shuffle,
 *                               where the window interaction is the only thing that differs and nothing masks it
 */
import type { PipelineRequest } from "../src/pipeline/index";

export interface Setting {
  name: string;
  /** One line for the report: what the setting shows. */
  description: string;
  /** The switches; every field is set explicitly so the table in results.md is the whole truth. */
  switches: Switches;
}

export type Switches = Required<
  Pick<
    PipelineRequest,
    | "useMultiDiffusion"
    | "usePatchPrompts"
    | "useControlNet"
    | "useDilatedSampling"
    | "shuffle"
    | "useSkipResidual"
    | "useGaussian"
    | "useProgressiveUpscaling"
  >
>;

const IDENTICAL: Switches = {
  useMultiDiffusion: true,
  usePatchPrompts: false,
  useControlNet: false,
  useDilatedSampling: false,
  shuffle: false,
  useSkipResidual: true,
  useGaussian: true,
  useProgressiveUpscaling: true,
};

export const SETTINGS: readonly Setting[] = [
  {
    name: "multidiffusion",
    description: "identical prompt on every window, no skip residual: the repetition problem in its raw form",
    switches: { ...IDENTICAL, useSkipResidual: false },
  },
  {
    name: "identical-prompts",
    description: "identical prompt on every window, skip residual on (experiment 1)",
    switches: IDENTICAL,
  },
  {
    name: "identical-prompts+dilated",
    description: "identical prompts + dilated sampling with window interaction (DemoFusion's recipe)",
    switches: { ...IDENTICAL, useDilatedSampling: true, shuffle: true },
  },
  {
    name: "patch-prompts",
    description: "patch-content-aware prompts on every window (experiment 2)",
    switches: { ...IDENTICAL, usePatchPrompts: true },
  },
  {
    name: "patch-prompts+controlnet",
    description: "patch prompts + canny ControlNet of the previous phase on every window (experiment 3)",
    switches: { ...IDENTICAL, usePatchPrompts: true, useControlNet: true },
  },
  {
    name: "patch-prompts-no-skip",
    description: "patch prompts, skip residual off: nothing but the noised start anchors the low-res layout",
    switches: { ...IDENTICAL, usePatchPrompts: true, useSkipResidual: false },
  },
  {
    name: "patch-prompts+controlnet-no-skip",
    description: "+ ControlNet, skip residual off: the ControlNet's own hold on the structure (isolates experiment 3)",
    switches: { ...IDENTICAL, usePatchPrompts: true, useControlNet: true, useSkipResidual: false },
  },
  {
    name: "full",
    description: "AccDiffusion v2: patch prompts, ControlNet, dilated sampling with window interaction (experiment 4)",
    switches: { ...IDENTICAL, usePatchPrompts: true, useControlNet: true, useDilatedSampling: true, shuffle: true },
  },
  {
    name: "full-no-window-interaction",
    description: "full, without the shuffle between dilated samples (experiment 4)",
    switches: { ...IDENTICAL, usePatchPrompts: true, useControlNet: true, useDilatedSampling: true, shuffle: false },
  },
  {
    name: "dilated-only",
    description: "no windows: dilated sampling alone, with window interaction (isolates experiment 4)",
    switches: { ...IDENTICAL, useMultiDiffusion: false, useDilatedSampling: true, shuffle: true },
  },
  {
    name: "dilated-only-no-window-interaction",
    description: "no windows: dilated sampling alone, without window interaction (isolates experiment 4)",
    switches: { ...IDENTICAL, useMultiDiffusion: false, useDilatedSampling: true, shuffle: false },
  },
];

/** The settings the issue requires in results.json. */
export const REQUIRED_SETTINGS = [
  "identical-prompts",
  "patch-prompts",
  "patch-prompts+controlnet",
  "full",
  "full-no-window-interaction",
] as const;

export interface ExperimentConfig {
  prompt: string;
  /** Final side in pixels (square): 3x the toy world's 512 base by default. */
  size: number;
  steps: number;
  seeds: number[];
}

export const DEFAULT_CONFIG: ExperimentConfig = {
  prompt: "a cat and a dog are playing on the lawn",
  size: 1536,
  steps: 10,
  seeds: [1, 2, 3],
};

/** The pipeline request of one setting and seed. */
export function requestFor(setting: Setting, config: ExperimentConfig, seed: number): PipelineRequest {
  return {
    prompt: config.prompt,
    width: config.size,
    height: config.size,
    steps: config.steps,
    seed,
    ...setting.switches,
  };
}

export function findSetting(name: string): Setting {
  const s = SETTINGS.find((x) => x.name === name);
  if (!s) throw new RangeError(`unknown setting ${name}; known: ${SETTINGS.map((x) => x.name).join(", ")}`);
  return s;
}
