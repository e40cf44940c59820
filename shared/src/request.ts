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
  SIDE_MULTIPLE,
  SWITCHES,
  type Switches,
} from "./parameters";
import { type PhasePlan, planPhases } from "./phasePlan";
import { referenceAttentionGridRefusal } from "./referenceLimits";
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
  /** The bundle's attention divisor (its maps have side / divisor pixels; 32 for SDXL): sizes under referenceCompat. */
  attentionDivisor: number;
}

export const DEFAULT_LIMITS: RequestLimits = {
  baseResolution: 1024,
  maxSide: 4096,
  hardMaxSide: 8192,
  maxAspect: 4,
  maxPromptChars: 1000,
  attentionDivisor: 32,
};

/**
 * Every side is a whole number of latents: a multiple of the VAE's down-sampling (8 for SDXL and the toy world).
 * Nothing else constrains a side: the UNet takes every latent size (its attention grid rounds up, see gpu-runner's
 * attentionGrid), so the phase plan never pads, crops or refuses an accepted size. Only referenceCompat refuses
 * some sizes, where the reference itself fails (referenceLimits.ts; `sizeIssues` with the request's settings).
 */
export { SIDE_MULTIPLE };

export interface SizeIssue {
  /** The side at fault, or referenceCompat for a valid size that compat mode cannot render. */
  path: ["width"] | ["height"] | ["referenceCompat"];
  message: string;
}

/** The request's settings that decide whether compat mode can render a size (defaults: the request's defaults). */
export interface SizeSettings {
  referenceCompat?: boolean;
  /** switches.patchPrompts */
  patchPrompts?: boolean;
  /** The request starts from an uploaded image (phase 1 is that image). */
  fromImage?: boolean;
}

/** The problem of one side on its own, or null (the request schema's `side` says the same, parameters.ts). */
export function sideIssue(v: number, limits: RequestLimits): string | null {
  if (!Number.isInteger(v)) return "must be an integer";
  if (v <= 0) return "must be positive";
  if (v > limits.hardMaxSide) return `must be at most ${limits.hardMaxSide}`;
  if (v % SIDE_MULTIPLE !== 0) return `must be a multiple of ${SIDE_MULTIPLE}`;
  return null;
}

/** Problems of the pair (longest side within [baseResolution, maxSide], aspect ratio at most maxAspect:1). */
export function sizeShapeIssues(width: number, height: number, limits: RequestLimits): SizeIssue[] {
  const long = Math.max(width, height);
  const short = Math.min(width, height);
  const longPath: SizeIssue["path"] = width >= height ? ["width"] : ["height"];
  const out: SizeIssue[] = [];
  if (long > limits.maxSide) out.push({ path: longPath, message: `longest side must be at most ${limits.maxSide}` });
  if (long < limits.baseResolution) {
    out.push({ path: longPath, message: `longest side must be at least the base resolution ${limits.baseResolution}` });
  }
  if (long > short * limits.maxAspect) {
    out.push({ path: ["width"], message: `aspect ratio must be at most ${limits.maxAspect}:1` });
  }
  return out;
}

/**
 * A size that is valid (sizeShapeIssues has nothing) but that the reference cannot run, under referenceCompat
 * (quirk refuseUnrunnableSizes, referenceLimits.ts): the runner would refuse it, so the API refuses it up front.
 */
export function referenceCompatSizeIssues(
  width: number,
  height: number,
  limits: RequestLimits,
  settings: SizeSettings,
): SizeIssue[] {
  const quirks = referenceQuirks(settings.referenceCompat ?? REQUEST_DEFAULTS.referenceCompat);
  if (!quirks.refuseUnrunnableSizes) return [];
  const fromImage = settings.fromImage ?? false;
  const plan = planPhases({
    width,
    height,
    base: limits.baseResolution,
    vaeScaleFactor: SIDE_MULTIPLE,
    progressive: true, // the base phase is the same either way
    fromImage,
    quirks,
  });
  const refusal = referenceAttentionGridRefusal({
    width,
    height,
    quirks,
    usePatchPrompts: settings.patchPrompts ?? SWITCH_DEFAULTS.patchPrompts,
    plan,
    geometry: { attentionDivisor: limits.attentionDivisor, vaeScaleFactor: SIDE_MULTIPLE },
  });
  return refusal ? [{ path: ["referenceCompat"], message: refusal }] : [];
}

/**
 * The sizes the API renders, as one rule: each side per sideIssue, the pair per sizeShapeIssues and, for the given
 * settings (default: the default mode, which renders every valid size), referenceCompatSizeIssues. The request schema
 * checks exactly this, and the size sweep (sizeSweep.ts) draws its grid from it.
 */
export function sizeIssues(
  width: number,
  height: number,
  limits: RequestLimits = DEFAULT_LIMITS,
  settings: SizeSettings = {},
): SizeIssue[] {
  const sides: SizeIssue[] = [];
  const w = sideIssue(width, limits);
  const h = sideIssue(height, limits);
  if (w) sides.push({ path: ["width"], message: w });
  if (h) sides.push({ path: ["height"], message: h });
  if (sides.length) return sides;
  const shape = sizeShapeIssues(width, height, limits);
  return shape.length ? shape : referenceCompatSizeIssues(width, height, limits, settings);
}

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
    const shape = sizeShapeIssues(r.width, r.height, limits);
    const settings = {
      referenceCompat: r.referenceCompat,
      patchPrompts: r.switches?.patchPrompts,
      fromImage: !!r.image,
    };
    const compat = shape.length ? [] : referenceCompatSizeIssues(r.width, r.height, limits, settings);
    for (const issue of [...shape, ...compat]) ctx.addIssue({ code: "custom", ...issue });
    const start = r.controlGuidanceStart ?? REQUEST_DEFAULTS.controlGuidanceStart;
    const end = r.controlGuidanceEnd ?? REQUEST_DEFAULTS.controlGuidanceEnd;
    if (start > end) {
      ctx.addIssue({ code: "custom", path: ["controlGuidanceStart"], message: "must not exceed controlGuidanceEnd" });
    }
    if (r.webhook_events !== undefined && r.webhook === undefined) {
      ctx.addIssue({ code: "custom", path: ["webhook_events"], message: "needs `webhook`" });
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
  return resolveParameters(schemaFor(limits).parse(input));
}

/**
 * The request schema for these limits, built once per distinct value: the worker passes limits read from its
 * configuration on every request, a new object each time, and building the schema costs more than parsing with it.
 */
function schemaFor(limits: RequestLimits): ReturnType<typeof makeGenerationRequestSchema> {
  if (limits === DEFAULT_LIMITS) return GenerationRequestSchema;
  // Every field, so that a limit added to RequestLimits is part of the key without a change here.
  const key = JSON.stringify(Object.entries(limits).sort(([a], [b]) => (a < b ? -1 : 1)));
  let schema = SCHEMAS.get(key);
  if (!schema) {
    // A deployment has a handful of configurations; the bound only guards against a caller that varies them freely.
    if (SCHEMAS.size >= 32) SCHEMAS.clear();
    schema = makeGenerationRequestSchema({ ...limits });
    SCHEMAS.set(key, schema);
  }
  return schema;
}

const SCHEMAS = new Map<string, ReturnType<typeof makeGenerationRequestSchema>>();

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

/** The protocol phases of a render with their pixel sizes: one phase plan, computed once per request. */
export interface RenderPhases {
  /**
   * Protocol phases in order: 1 (the base phase) then the upscaling scales, e.g. [1, 2, 3, 4] for a 4x render with
   * progressive upscaling, [1, 4] without. From an image, the encoded base (pipeline id 0) and the scale-1 refinement
   * that follows it (id 1) are one phase, 1, as the runner reports them: each phase is listed (and priced) once.
   */
  scales: number[];
  /** Pixel size of each phase, by phase (as a string, JSON-friendly); the last phase's is the output size. */
  sizes: Record<string, { width: number; height: number }>;
  /**
   * From an image with progressive upscaling (or at 1x), phase 1 is the encoded image followed by a scale-1
   * refinement, which has a level-k cache record of its own (worker cache/keys.ts).
   */
  refinesPhase1: boolean;
}

type PlanFields = Pick<ResolvedRequest, "width" | "height" | "switches"> &
  Partial<Pick<ResolvedRequest, "image" | "referenceCompat">>;

export function renderPhases(r: PlanFields, baseResolution: number, vaeScaleFactor = 8): RenderPhases {
  const plan = requestPlan({ image: null, referenceCompat: false, ...r }, baseResolution, vaeScaleFactor);
  const ids = [plan.base.id, ...plan.upscales.map((u) => u.id)].map((id) => Math.max(1, id));
  const scales = ids.filter((id, i) => ids.indexOf(id) === i);
  const sizes: RenderPhases["sizes"] = {};
  for (const k of scales) {
    // The last spec of that id (the refinement for phase 1 from an image); phase 1 without one is the base phase.
    const spec = [...plan.upscales].reverse().find((u) => u.id === k) ?? (k === 1 ? plan.base : undefined);
    if (!spec) throw new RangeError(`phase ${k} is not in the plan of a ${r.width}x${r.height} render`);
    sizes[String(k)] = { width: spec.latentWidth * vaeScaleFactor, height: spec.latentHeight * vaeScaleFactor };
  }
  const refinesPhase1 = r.image != null && plan.upscales.some((u) => u.id === 1);
  return { scales, sizes, refinesPhase1 };
}

/** The protocol phases of a render (RenderPhases.scales). */
export function phaseScales(r: PlanFields, baseResolution: number): number[] {
  return renderPhases(r, baseResolution).scales;
}

/** Pixel size of phase `id` of a render (the last phase is the output size). */
export function phaseSize(
  r: PlanFields,
  baseResolution: number,
  id: number,
  vaeScaleFactor = 8,
): { width: number; height: number } {
  const size = renderPhases(r, baseResolution, vaeScaleFactor).sizes[String(id)];
  if (!size) throw new RangeError(`phase ${id} is not in the plan of a ${r.width}x${r.height} render`);
  return size;
}
