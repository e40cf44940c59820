/**
 * The public generation request: the method's parameters with the reference's command-line defaults,
 * validated strictly (unknown fields are rejected) and resolved to a complete parameter set.
 */
import { z } from "zod";
import {
  constantDefaults,
  type ResolvedParameters,
  requestShape,
  resolvedShape,
  resolveParameters,
  SWITCHES,
  type Switches,
} from "./parameters";
import { type PhasePlan, planPhases } from "./phasePlan";
import { referenceQuirks } from "./referenceQuirks";

/** Size limits. The base resolution comes from the model bundle (1024 for SDXL). */
export interface RequestLimits {
  baseResolution: number;
  /** Longest side allowed by default configuration. */
  maxSide: number;
  /** Longest side that configuration may ever allow. */
  hardMaxSide: number;
  /** Longest side / shortest side. */
  maxAspect: number;
  maxPromptChars: number;
}

export const DEFAULT_LIMITS: RequestLimits = {
  baseResolution: 1024,
  maxSide: 4096,
  hardMaxSide: 8192,
  maxAspect: 4,
  maxPromptChars: 1000,
};

/** Every mechanism on (SWITCHES in parameters.ts). */
export const SWITCH_DEFAULTS: Readonly<Switches> = Object.freeze(
  Object.fromEntries(Object.keys(SWITCHES).map((k) => [k, true])) as Switches,
);

/** The constant defaults of the table (the reference implementation's command-line defaults). */
export const REQUEST_DEFAULTS = Object.freeze(constantDefaults()) as Readonly<
  Omit<ResolvedRequest, "prompt" | "width" | "height" | "seed" | "switches">
>;

/** Builds the request schema for given limits (the runner passes its bundle's base resolution). */
export function makeGenerationRequestSchema(limits: RequestLimits = DEFAULT_LIMITS) {
  return z.strictObject(requestShape(limits)).superRefine((r, ctx) => {
    const long = Math.max(r.width, r.height);
    const short = Math.min(r.width, r.height);
    if (long > limits.maxSide) {
      ctx.addIssue({
        code: "custom",
        path: [r.width >= r.height ? "width" : "height"],
        message: `longest side must be at most ${limits.maxSide}`,
      });
    }
    if (long < limits.baseResolution) {
      ctx.addIssue({
        code: "custom",
        path: [r.width >= r.height ? "width" : "height"],
        message: `longest side must be at least the base resolution ${limits.baseResolution}`,
      });
    }
    if (long > short * limits.maxAspect) {
      ctx.addIssue({
        code: "custom",
        path: ["width"],
        message: `aspect ratio must be at most ${limits.maxAspect}:1`,
      });
    }
    const start = r.controlGuidanceStart ?? REQUEST_DEFAULTS.controlGuidanceStart;
    const end = r.controlGuidanceEnd ?? REQUEST_DEFAULTS.controlGuidanceEnd;
    if (start > end) {
      ctx.addIssue({ code: "custom", path: ["controlGuidanceStart"], message: "must not exceed controlGuidanceEnd" });
    }
  });
}

export const GenerationRequestSchema = makeGenerationRequestSchema();
export type GenerationRequest = z.input<typeof GenerationRequestSchema>;

/** A request with every default filled in: what the runner executes and what cache keys hash (parameters.ts). */
export type ResolvedRequest = ResolvedParameters;

export const ResolvedRequestSchema = z.strictObject(resolvedShape()) satisfies z.ZodType<ResolvedRequest>;

/**
 * Validates and fills defaults. Throws a `z.ZodError` on bad input (see problem.ts `fromZodError`).
 * A missing seed is drawn at random here, once, so that the job (and its cache keys) are deterministic afterwards.
 */
export function resolveRequest(input: unknown, limits: RequestLimits = DEFAULT_LIMITS): ResolvedRequest {
  const schema = limits === DEFAULT_LIMITS ? GenerationRequestSchema : makeGenerationRequestSchema(limits);
  return resolveParameters(schema.parse(input));
}

/** The phase plan of a resolved request for a bundle of the given base resolution (see phasePlan.ts). */
export function requestPlan(
  r: Pick<ResolvedRequest, "width" | "height" | "switches" | "image" | "referenceCompat">,
  baseResolution: number,
  vaeScaleFactor = 8,
): PhasePlan {
  return planPhases({
    width: r.width,
    height: r.height,
    base: baseResolution,
    vaeScaleFactor,
    progressive: r.switches.progressiveUpscaling,
    fromImage: r.image != null,
    quirks: referenceQuirks(r.referenceCompat),
  });
}

/**
 * The phases a render computes, by protocol phase: 1 (the base phase) then the upscaling scales, e.g. [1, 2, 3, 4]
 * for a 4x render with progressive upscaling, [1, 4] without. From an image, the encoded base (pipeline id 0) and the
 * scale-1 refinement that follows it (id 1) are one phase, 1, as the runner reports them: each phase is listed (and
 * priced) once.
 */
export function phaseScales(
  r: Pick<ResolvedRequest, "width" | "height" | "switches"> &
    Partial<Pick<ResolvedRequest, "image" | "referenceCompat">>,
  baseResolution: number,
): number[] {
  const plan = requestPlan({ image: null, referenceCompat: false, ...r }, baseResolution);
  const ids = [plan.base.id, ...plan.upscales.map((u) => u.id)].map((id) => Math.max(1, id));
  return ids.filter((id, i) => ids.indexOf(id) === i);
}

/** Pixel size of phase `id` of a render (the last phase is the output size). */
export function phaseSize(
  r: Pick<ResolvedRequest, "width" | "height" | "switches"> &
    Partial<Pick<ResolvedRequest, "image" | "referenceCompat">>,
  baseResolution: number,
  id: number,
  vaeScaleFactor = 8,
): { width: number; height: number } {
  const plan = requestPlan({ image: null, referenceCompat: false, ...r }, baseResolution, vaeScaleFactor);
  const spec = [...plan.upscales].reverse().find((u) => u.id === id) ?? (plan.base.id === id ? plan.base : undefined);
  if (!spec) throw new RangeError(`phase ${id} is not in the plan of a ${r.width}x${r.height} render`);
  return { width: spec.latentWidth * vaeScaleFactor, height: spec.latentHeight * vaeScaleFactor };
}
