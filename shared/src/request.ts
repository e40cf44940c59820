/**
 * The public generation request: the method's parameters with the reference's command-line defaults,
 * validated strictly (unknown fields are rejected) and resolved to a complete parameter set.
 */
import { z } from "zod";
import { type PhasePlan, planPhases } from "./phasePlan";
import { normalizeText, textProblem } from "./text";

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

/** Every mechanism of AccDiffusion v2 can be switched off for ablations; all are on by default. */
export const SWITCH_DEFAULTS = {
  progressiveUpscaling: true,
  skipResidual: true,
  multidiffusion: true,
  dilatedSampling: true,
  gaussian: true,
  patchPrompts: true,
  windowInteraction: true,
  controlnet: true,
} as const;

export type Switches = { [K in keyof typeof SWITCH_DEFAULTS]: boolean };

/** The reference implementation's command-line defaults. */
export const REQUEST_DEFAULTS = {
  negativePrompt: "blurry, ugly, duplicate, poorly drawn, deformed, mosaic",
  steps: 50,
  guidanceScale: 7.5,
  multiGuidanceScale: 7.5,
  cosineScale1: 3,
  cosineScale2: 1,
  cosineScale3: 1,
  sigma: 0.8,
  c: 0.3,
  cannySigma: 0.3,
  controlnetConditioningScale: 0.3,
  controlGuidanceStart: 0,
  controlGuidanceEnd: 1,
  viewBatchSize: 16,
  format: "png" as const,
  referenceCompat: false,
};

export const IMAGE_FORMATS = ["png", "webp", "jpeg"] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

const finite = () => z.number().refine(Number.isFinite, "must be a finite number");

const SwitchesSchema = z.strictObject({
  progressiveUpscaling: z.boolean().optional(),
  skipResidual: z.boolean().optional(),
  multidiffusion: z.boolean().optional(),
  dilatedSampling: z.boolean().optional(),
  gaussian: z.boolean().optional(),
  patchPrompts: z.boolean().optional(),
  windowInteraction: z.boolean().optional(),
  controlnet: z.boolean().optional(),
});

/** A reference to an uploaded image to upscale instead of generating phase 1 (content-addressed). */
export const ImageInputSchema = z.strictObject({
  sha256: z.string().regex(/^[0-9a-f]{64}$/, "must be a lowercase hex SHA-256"),
  width: z.number().int().positive().max(16384),
  height: z.number().int().positive().max(16384),
});

/** A prompt: refused when it is not text (text.ts); normalised when resolved. */
function promptText(max: number) {
  return z
    .string()
    .max(max)
    .superRefine((v, ctx) => {
      const why = textProblem(v);
      if (why) ctx.addIssue({ code: "custom", message: why });
    });
}

/** Builds the request schema for given limits (the runner passes its bundle's base resolution). */
export function makeGenerationRequestSchema(limits: RequestLimits = DEFAULT_LIMITS) {
  const side = z
    .number()
    .int("must be an integer")
    .positive("must be positive")
    .max(limits.hardMaxSide, `must be at most ${limits.hardMaxSide}`)
    .refine((v) => v % 8 === 0, "must be a multiple of 8");
  return z
    .strictObject({
      prompt: promptText(limits.maxPromptChars).min(1, "must not be empty"),
      negativePrompt: promptText(limits.maxPromptChars).optional(),
      width: side,
      height: side,
      seed: z.number().int().min(0).max(0xffffffff).optional(),
      steps: z.number().int().min(1).max(150).optional(),
      guidanceScale: finite().min(0).max(50).optional(),
      multiGuidanceScale: finite().min(0).max(50).optional(),
      cosineScale1: finite().min(0).max(100).optional(),
      cosineScale2: finite().min(0).max(100).optional(),
      cosineScale3: finite().min(0).max(100).optional(),
      sigma: finite().min(0).max(10).optional(),
      /** MultiDiffusion stride in latent pixels; default: half the bundle's latent window (64 for SDXL). */
      stride: z.number().int().min(8).max(1024).optional(),
      c: finite().min(0).max(1).optional(),
      cannySigma: finite().min(0).max(1).optional(),
      controlnetConditioningScale: finite().min(0).max(5).optional(),
      controlGuidanceStart: finite().min(0).max(1).optional(),
      controlGuidanceEnd: finite().min(0).max(1).optional(),
      viewBatchSize: z.number().int().min(1).max(64).optional(),
      switches: SwitchesSchema.optional(),
      format: z.enum(IMAGE_FORMATS).optional(),
      image: ImageInputSchema.optional(),
      bundle: z
        .string()
        .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/)
        .optional(),
      /** Reproduce the reference implementation's known defects bit for bit (see README). */
      referenceCompat: z.boolean().optional(),
    })
    .superRefine((r, ctx) => {
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

/** A request with every default filled in: what the runner executes and what cache keys hash. */
export interface ResolvedRequest {
  prompt: string;
  negativePrompt: string;
  width: number;
  height: number;
  seed: number;
  steps: number;
  guidanceScale: number;
  multiGuidanceScale: number;
  cosineScale1: number;
  cosineScale2: number;
  cosineScale3: number;
  sigma: number;
  /** null: half of the bundle's latent window. */
  stride: number | null;
  c: number;
  cannySigma: number;
  controlnetConditioningScale: number;
  controlGuidanceStart: number;
  controlGuidanceEnd: number;
  viewBatchSize: number;
  switches: Switches;
  format: ImageFormat;
  image: z.infer<typeof ImageInputSchema> | null;
  bundle: string | null;
  referenceCompat: boolean;
}

export const ResolvedRequestSchema = z.strictObject({
  prompt: z.string(),
  negativePrompt: z.string(),
  width: z.number().int(),
  height: z.number().int(),
  seed: z.number().int().min(0).max(0xffffffff),
  steps: z.number().int(),
  guidanceScale: z.number(),
  multiGuidanceScale: z.number(),
  cosineScale1: z.number(),
  cosineScale2: z.number(),
  cosineScale3: z.number(),
  sigma: z.number(),
  stride: z.number().int().nullable(),
  c: z.number(),
  cannySigma: z.number(),
  controlnetConditioningScale: z.number(),
  controlGuidanceStart: z.number(),
  controlGuidanceEnd: z.number(),
  viewBatchSize: z.number().int(),
  switches: z.strictObject({
    progressiveUpscaling: z.boolean(),
    skipResidual: z.boolean(),
    multidiffusion: z.boolean(),
    dilatedSampling: z.boolean(),
    gaussian: z.boolean(),
    patchPrompts: z.boolean(),
    windowInteraction: z.boolean(),
    controlnet: z.boolean(),
  }),
  format: z.enum(IMAGE_FORMATS),
  image: ImageInputSchema.nullable(),
  bundle: z.string().nullable(),
  referenceCompat: z.boolean(),
}) satisfies z.ZodType<ResolvedRequest>;

function randomSeed(): number {
  const a = new Uint32Array(1);
  crypto.getRandomValues(a);
  return a[0];
}

/**
 * Validates and fills defaults. Throws a `z.ZodError` on bad input (see problem.ts `fromZodError`).
 * A missing seed is drawn at random here, once, so that the job (and its cache keys) are deterministic afterwards.
 */
export function resolveRequest(input: unknown, limits: RequestLimits = DEFAULT_LIMITS): ResolvedRequest {
  const schema = limits === DEFAULT_LIMITS ? GenerationRequestSchema : makeGenerationRequestSchema(limits);
  const r = schema.parse(input);
  const d = REQUEST_DEFAULTS;
  return {
    prompt: normalizeText(r.prompt),
    negativePrompt: normalizeText(r.negativePrompt ?? d.negativePrompt),
    width: r.width,
    height: r.height,
    seed: r.seed ?? randomSeed(),
    steps: r.steps ?? d.steps,
    guidanceScale: r.guidanceScale ?? d.guidanceScale,
    multiGuidanceScale: r.multiGuidanceScale ?? d.multiGuidanceScale,
    cosineScale1: r.cosineScale1 ?? d.cosineScale1,
    cosineScale2: r.cosineScale2 ?? d.cosineScale2,
    cosineScale3: r.cosineScale3 ?? d.cosineScale3,
    sigma: r.sigma ?? d.sigma,
    stride: r.stride ?? null,
    c: r.c ?? d.c,
    cannySigma: r.cannySigma ?? d.cannySigma,
    controlnetConditioningScale: r.controlnetConditioningScale ?? d.controlnetConditioningScale,
    controlGuidanceStart: r.controlGuidanceStart ?? d.controlGuidanceStart,
    controlGuidanceEnd: r.controlGuidanceEnd ?? d.controlGuidanceEnd,
    viewBatchSize: r.viewBatchSize ?? d.viewBatchSize,
    switches: { ...SWITCH_DEFAULTS, ...r.switches },
    format: r.format ?? d.format,
    image: r.image ?? null,
    bundle: r.bundle ?? null,
    referenceCompat: r.referenceCompat ?? d.referenceCompat,
  };
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
    referenceCompat: r.referenceCompat,
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
