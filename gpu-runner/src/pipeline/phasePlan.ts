/**
 * The phase plan lives in shared/ (the worker prices and caches by phase with the very same rule); the pipeline uses
 * it from there.
 */
export { type PhasePlan, type PhaseSpec, type PlanInput, planPhases, UnsupportedSizeError } from "@accdiff/shared";
