/**
 * Every field of the public generation request, declared once: its bounds, its default, the cache level it keys, its
 * name in the pipeline, its CLI flag and its help text. The request schema, the defaults, the resolved type, the
 * cache-key inputs, the CLI flags and the pipeline mapping are all derived from this table (request.ts, cacheKeys.ts,
 * gpu-runner cli/requestFlags.ts and runner/requestMapping.ts), so adding a parameter is one row here plus its use in
 * the pipeline (CONTRIBUTING.md).
 */
import { z } from "zod";
import { DELIVERY_FIELDS } from "./delivery";
import type { RequestLimits } from "./request";
import { normalizeText, textProblem } from "./text";

/**
 * What a field's value keys in the cache (cacheKeys.ts):
 * - "phase1": the level-1 record (phase 1's latents, image, attention maps) and so every level after it;
 * - "upscale": every upscaling level (phase k's key), not phase 1;
 * - "plan": only through the phase plan (the aspect at level 1, each phase's size at level k);
 * - "none": never (output encoding, delivery metadata): requests differing only here share every record.
 */
export type CacheLevel = "phase1" | "upscale" | "plan" | "none";

/** The default of a field that must be given. */
export const REQUIRED = Symbol("required");

export interface ParameterRow<In, Out> {
  /** The accepted value, bounds scaled to the limits where they depend on them. */
  input: (limits: RequestLimits) => z.ZodType<In>;
  /** What the resolved request holds (downstream schemas do not re-check the API's bounds); null: dropped. */
  resolved: z.ZodType<Out> | null;
  /** The value when the field is omitted, drawn when a function; REQUIRED when it must be given. */
  default: Out | (() => Out) | typeof REQUIRED;
  /** Resolves a given value (default: as given). */
  resolve?: (given: In) => Out;
  cache: CacheLevel;
  /** The pipeline's name (PipelineRequest) when it differs; null when the field is not passed by name. */
  pipeline?: string | null;
  /** CLI flag without the dashes: a number, a string or a boolean (on when given); none when null. */
  flag: { name: string; type: "number" | "string" | "boolean"; short?: string; arg?: string } | null;
  /** One line for the CLI help (the default is appended where there is one). */
  help: string;
}

function row<In, Out = In>(r: ParameterRow<In, Out>): ParameterRow<In, Out> {
  return r;
}

/** A field that travels with the request but is not a render parameter: dropped when resolving, never cached. */
function delivery<In>(
  r: Pick<ParameterRow<In, never>, "input" | "help">,
): ParameterRow<In, never> & { resolved: null } {
  return { ...r, resolved: null, default: REQUIRED, cache: "none", pipeline: null, flag: null };
}

/** A row whose field must be given (its default is REQUIRED). */
function required<In>(r: Omit<ParameterRow<In, In>, "default">): ParameterRow<In, In> & { required: true } {
  return { ...r, default: REQUIRED, required: true };
}

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

const finite = () => z.number().refine(Number.isFinite, "must be a finite number");
/** Bounded numbers with messages a user reads as is (the CLI prefixes the flag, problem+json the field). */
const intIn = (min: number, max: number) =>
  z.number().int("must be an integer").min(min, `must be >= ${min}`).max(max, `must be <= ${max}`);
const numberIn = (min: number, max: number) => finite().min(min, `must be >= ${min}`).max(max, `must be <= ${max}`);

/** A side is a whole number of latents: a multiple of the VAE's down-sampling (8 for SDXL and the toy world). */
export const SIDE_MULTIPLE = 8;
const numberFlag = (name: string, arg = "X") => ({ name, type: "number" as const, arg });

/** Every mechanism of AccDiffusion v2 can be switched off for ablations (`--no-<flag>`); all are on by default. */
export const SWITCHES = {
  progressiveUpscaling: { pipeline: "useProgressiveUpscaling", flag: "progressive-upscaling" },
  skipResidual: { pipeline: "useSkipResidual", flag: "skip-residual" },
  multidiffusion: { pipeline: "useMultiDiffusion", flag: "multidiffusion" },
  dilatedSampling: { pipeline: "useDilatedSampling", flag: "dilated-sampling" },
  gaussian: { pipeline: "useGaussian", flag: "gaussian" },
  patchPrompts: { pipeline: "usePatchPrompts", flag: "patch-prompts" },
  // Window interaction is the reference's `shuffle` of dilated samples across a view batch.
  windowInteraction: { pipeline: "shuffle", flag: "window-interaction" },
  controlnet: { pipeline: "useControlNet", flag: "controlnet" },
} as const;

export type SwitchName = keyof typeof SWITCHES;
export type Switches = { [K in SwitchName]: boolean };

const switchNames = Object.keys(SWITCHES) as SwitchName[];
const allOn = (): Switches => Object.fromEntries(switchNames.map((k) => [k, true])) as Switches;

export const IMAGE_FORMATS = ["png", "webp", "jpeg"] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

/** A reference to an uploaded image to upscale instead of generating phase 1 (content-addressed). */
export const ImageInputSchema = z.strictObject({
  sha256: z.string().regex(/^[0-9a-f]{64}$/, "must be a lowercase hex SHA-256"),
  width: z.number().int().positive().max(16384),
  height: z.number().int().positive().max(16384),
});
export type ImageInput = z.infer<typeof ImageInputSchema>;

function side(limits: RequestLimits) {
  return z
    .number()
    .int("must be an integer")
    .positive("must be positive")
    .max(limits.hardMaxSide, `must be at most ${limits.hardMaxSide}`)
    .refine((v) => v % SIDE_MULTIPLE === 0, `must be a multiple of ${SIDE_MULTIPLE}`);
}

function randomSeed(): number {
  const a = new Uint32Array(1);
  crypto.getRandomValues(a);
  return a[0];
}

/**
 * The table, in the request's field order. Defaults are the reference implementation's command-line defaults; the
 * pipeline keeps only the defaults that scale with the model bundle (the MultiDiffusion window and stride).
 */
export const PARAMETERS = {
  prompt: required({
    input: (l) => promptText(l.maxPromptChars).min(1, "must not be empty"),
    resolved: z.string(),
    resolve: normalizeText,
    cache: "phase1",
    flag: { name: "prompt", type: "string", short: "p", arg: "TEXT" },
    help: "what to draw (required)",
  }),
  negativePrompt: row({
    input: (l) => promptText(l.maxPromptChars),
    resolved: z.string(),
    // Already normal text (normalizeText leaves it as is: parameters.test.ts).
    default: "blurry, ugly, duplicate, poorly drawn, deformed, mosaic",
    resolve: normalizeText,
    cache: "phase1",
    flag: { name: "negative", type: "string", arg: "TEXT" },
    help: "negative prompt",
  }),
  width: required({
    input: side,
    resolved: z.number().int(),
    cache: "plan",
    flag: null, // --size WxH
    help: "output width in pixels, a multiple of 8",
  }),
  height: required({
    input: side,
    resolved: z.number().int(),
    cache: "plan",
    flag: null, // --size WxH
    help: "output height in pixels, a multiple of 8",
  }),
  seed: row({
    input: () => intIn(0, 0xffffffff),
    resolved: z.number().int().min(0).max(0xffffffff),
    // Drawn once when resolving, so that the job (and its cache keys) are deterministic afterwards.
    default: randomSeed,
    cache: "phase1",
    flag: numberFlag("seed", "N"),
    help: "random seed (random when omitted; written to report.json)",
  }),
  steps: row({
    input: () => intIn(1, 150),
    resolved: z.number().int(),
    default: 50,
    cache: "phase1",
    flag: numberFlag("steps", "N"),
    help: "denoising steps per phase",
  }),
  guidanceScale: row({
    input: () => numberIn(0, 50),
    resolved: z.number(),
    default: 7.5,
    cache: "phase1",
    flag: numberFlag("guidance-scale"),
    help: "CFG of phase 1 and dilated sampling",
  }),
  multiGuidanceScale: row({
    input: () => numberIn(0, 50),
    resolved: z.number(),
    default: 7.5,
    cache: "upscale",
    flag: numberFlag("multi-guidance-scale"),
    help: "CFG of the MultiDiffusion patches",
  }),
  cosineScale1: row({
    input: () => numberIn(0, 100),
    resolved: z.number(),
    default: 3,
    cache: "upscale",
    flag: numberFlag("cosine-scale-1"),
    help: "skip residual strength",
  }),
  cosineScale2: row({
    input: () => numberIn(0, 100),
    resolved: z.number(),
    default: 1,
    cache: "upscale",
    flag: numberFlag("cosine-scale-2"),
    help: "dilated sampling strength",
  }),
  cosineScale3: row({
    input: () => numberIn(0, 100),
    resolved: z.number(),
    default: 1,
    cache: "upscale",
    flag: numberFlag("cosine-scale-3"),
    help: "Gaussian filter strength",
  }),
  sigma: row({
    input: () => numberIn(0, 10),
    resolved: z.number(),
    default: 0.8,
    cache: "upscale",
    flag: numberFlag("sigma"),
    help: "Gaussian filter sigma",
  }),
  stride: row<number, number | null>({
    input: () => intIn(8, 1024),
    resolved: z.number().int().nullable(),
    // null: half of the bundle's latent window (64 for SDXL), which the pipeline knows.
    default: null,
    cache: "upscale",
    flag: numberFlag("stride", "N"),
    help: "MultiDiffusion stride in latent pixels (half the window)",
  }),
  c: row({
    input: () => numberIn(0, 1),
    resolved: z.number(),
    default: 0.3,
    cache: "upscale",
    pipeline: "patchThreshold",
    flag: numberFlag("c"),
    help: "patch-prompt threshold: a word covers >= c of a patch",
  }),
  cannySigma: row({
    input: () => numberIn(0, 1),
    resolved: z.number(),
    default: 0.3,
    cache: "upscale",
    flag: numberFlag("canny-sigma"),
    help: "auto-canny sigma",
  }),
  controlnetConditioningScale: row({
    input: () => numberIn(0, 5),
    resolved: z.number(),
    default: 0.3,
    cache: "upscale",
    flag: numberFlag("controlnet-conditioning-scale"),
    help: "ControlNet weight",
  }),
  controlGuidanceStart: row({
    input: () => numberIn(0, 1),
    resolved: z.number(),
    default: 0,
    cache: "upscale",
    flag: numberFlag("control-guidance-start"),
    help: "fraction of the steps where the ControlNet starts",
  }),
  controlGuidanceEnd: row({
    input: () => numberIn(0, 1),
    resolved: z.number(),
    default: 1,
    cache: "upscale",
    flag: numberFlag("control-guidance-end"),
    help: "fraction of the steps where the ControlNet ends",
  }),
  viewBatchSize: row({
    input: () => intIn(1, 64),
    resolved: z.number().int(),
    default: 16,
    // Window interaction permutes within a view batch.
    cache: "upscale",
    flag: numberFlag("view-batch-size", "N"),
    help: "views per model call",
  }),
  switches: row<Partial<Switches>, Switches>({
    input: () => z.strictObject(Object.fromEntries(switchNames.map((k) => [k, z.boolean().optional()]))),
    resolved: z.strictObject(
      Object.fromEntries(switchNames.map((k) => [k, z.boolean()])),
    ) as unknown as z.ZodType<Switches>,
    default: allOn,
    resolve: (given) => ({ ...allOn(), ...given }),
    cache: "upscale",
    pipeline: null, // each switch by its own name (SWITCHES)
    flag: null, // --no-<switch> (SWITCHES)
    help: "ablations: every mechanism is on by default",
  }) as ParameterRow<Partial<Switches>, Switches>,
  format: row<ImageFormat, ImageFormat>({
    input: () => z.enum(IMAGE_FORMATS),
    resolved: z.enum(IMAGE_FORMATS),
    default: "png",
    // Encoding only: every cached record holds the raw image.
    cache: "none",
    pipeline: null,
    flag: { name: "format", type: "string", arg: "png|webp|jpeg" },
    help: "image format",
  }),
  image: row<ImageInput, ImageInput | null>({
    input: () => ImageInputSchema,
    resolved: ImageInputSchema.nullable(),
    default: null,
    // Phase 1 is the image: keyed by its hash.
    cache: "phase1",
    pipeline: null, // decoded and passed as initImage
    flag: null, // accdiff upscale --image FILE
    help: "an uploaded image to upscale instead of generating phase 1",
  }),
  bundle: row<string, string | null>({
    input: () => z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/),
    resolved: z.string().nullable(),
    default: null,
    // Keys phase 1 as the chosen bundle's content hash, not by name.
    cache: "phase1",
    pipeline: null,
    flag: null, // accdiff --bundle DIR
    help: "model bundle id (default: the deployment's)",
  }),
  referenceCompat: row({
    input: () => z.boolean(),
    resolved: z.boolean(),
    default: false,
    cache: "phase1",
    flag: { name: "reference-compat", type: "boolean" },
    help: "reproduce the reference's known defects bit for bit (README, referenceQuirks.ts)",
  }),
  // Delivery metadata (delivery.ts): validated with the request, dropped by resolveRequest, read by deliveryOf.
  webhook: delivery({ input: () => DELIVERY_FIELDS.webhook.unwrap(), help: "URL called back with signed events" }),
  webhook_events: delivery({ input: () => DELIVERY_FIELDS.webhook_events.unwrap(), help: "events sent to webhook" }),
};

type Table = typeof PARAMETERS;
export type ParameterName = keyof Table;
type InOf<R> = R extends { input: (limits: RequestLimits) => z.ZodType<infer In> } ? In : never;
type OutOf<R> = R extends { resolved: z.ZodType<infer Out> | null } ? Out : never;
type ResolvedKeys = { [K in ParameterName]: Table[K] extends { resolved: null } ? never : K }[ParameterName];
type RequiredKeys = { [K in ParameterName]: Table[K] extends { required: true } ? K : never }[ParameterName];

/** The request's zod shape: required fields as they are, the rest optional. */
export type RequestShape = {
  [K in ParameterName]: K extends RequiredKeys ? z.ZodType<InOf<Table[K]>> : z.ZodOptional<z.ZodType<InOf<Table[K]>>>;
};

/** A request with every default filled in: what the runner executes and what cache keys hash. */
export type ResolvedParameters = { [K in ResolvedKeys]: OutOf<Table[K]> };

const rows = Object.entries(PARAMETERS) as [ParameterName, ParameterRow<unknown, unknown>][];

function isRequired(r: ParameterRow<unknown, unknown>): boolean {
  return (r as { required?: boolean }).required === true;
}

export function requestShape(limits: RequestLimits): RequestShape {
  return Object.fromEntries(
    rows.map(([k, r]) => [k, isRequired(r) ? r.input(limits) : r.input(limits).optional()]),
  ) as unknown as RequestShape;
}

export function resolvedShape(): { [K in ResolvedKeys]: z.ZodType<OutOf<Table[K]>> } {
  return Object.fromEntries(rows.filter(([, r]) => r.resolved !== null).map(([k, r]) => [k, r.resolved])) as never;
}

/** Fills the defaults of a parsed request (drawn defaults are drawn here) and drops the fields not resolved. */
export function resolveParameters(parsed: Record<string, unknown>): ResolvedParameters {
  const out: Record<string, unknown> = {};
  for (const [k, r] of rows) {
    if (r.resolved === null) continue;
    const given = parsed[k];
    if (given !== undefined) out[k] = r.resolve ? r.resolve(given) : given;
    else if (isRequired(r)) throw new RangeError(`${k} is required`);
    else out[k] = typeof r.default === "function" ? (r.default as () => unknown)() : r.default;
  }
  return out as ResolvedParameters;
}

/** The fields of one cache level, in table order. */
export function fieldsAtCacheLevel(level: CacheLevel): ParameterName[] {
  return rows.filter(([, r]) => r.cache === level).map(([k]) => k);
}

/** Constant defaults (drawn and required ones left out), by API name. */
export function constantDefaults(): Partial<Record<ParameterName, unknown>> {
  return Object.fromEntries(
    rows
      .filter(([, r]) => r.resolved !== null && r.default !== REQUIRED && typeof r.default !== "function")
      .map(([k, r]) => [k, r.default]),
  );
}

/** API name -> pipeline name, for every field the pipeline takes by name (switches by SWITCHES). */
export function pipelineNames(): [ParameterName, string][] {
  return rows.filter(([, r]) => r.pipeline !== null).map(([k, r]) => [k, r.pipeline ?? k]);
}

/**
 * The table's constant defaults under their pipeline names, switches included (all on): what the pipeline fills in
 * for a field it is not given, so that a pipeline run and an API run agree on every default.
 */
export function pipelineDefaults(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, r] of rows) {
    if (r.pipeline === null || r.default === REQUIRED || typeof r.default === "function" || r.default === null)
      continue;
    out[r.pipeline ?? k] = r.default;
  }
  for (const s of Object.values(SWITCHES)) out[s.pipeline] = true;
  return out;
}

/** The table's rows, for derived views (CLI flags, help). */
export function parameterRows(): readonly [ParameterName, ParameterRow<unknown, unknown>][] {
  return rows;
}
