import type { SchedulerConfig } from "./types";

/**
 * SDXL base 1.0's Euler-discrete scheduler configuration (diffusers' `scheduler_config.json`, camelCased): what
 * every SDXL-compatible bundle declares in bundle.json, the toy world included.
 */
export const SDXL_SCHEDULER_CONFIG: Readonly<SchedulerConfig> = Object.freeze({
  numTrainTimesteps: 1000,
  betaStart: 0.00085,
  betaEnd: 0.012,
  betaSchedule: "scaled_linear",
  timestepSpacing: "leading",
  stepsOffset: 1,
  predictionType: "epsilon",
});
