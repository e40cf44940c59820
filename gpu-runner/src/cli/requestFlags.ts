/**
 * Command-line flags for the method's parameters, mapped onto the public GenerationRequest so that the CLI validates
 * exactly like the API (same schema, same bounds, scaled to the bundle's base resolution).
 */
import {
  DEFAULT_LIMITS,
  formatPath,
  type GenerationRequest,
  makeGenerationRequestSchema,
  type ResolvedRequest,
  resolveRequest,
} from "@accdiff/shared";
import { z } from "zod";
import { usageError } from "./errors";

type NumberKey =
  | "steps"
  | "seed"
  | "guidanceScale"
  | "multiGuidanceScale"
  | "cosineScale1"
  | "cosineScale2"
  | "cosineScale3"
  | "sigma"
  | "stride"
  | "c"
  | "cannySigma"
  | "controlnetConditioningScale"
  | "controlGuidanceStart"
  | "controlGuidanceEnd"
  | "viewBatchSize";

/** flag -> request field, for every numeric method parameter. */
export const NUMBER_FLAGS: Record<string, NumberKey> = {
  steps: "steps",
  seed: "seed",
  "guidance-scale": "guidanceScale",
  "multi-guidance-scale": "multiGuidanceScale",
  "cosine-scale-1": "cosineScale1",
  "cosine-scale-2": "cosineScale2",
  "cosine-scale-3": "cosineScale3",
  sigma: "sigma",
  stride: "stride",
  c: "c",
  "canny-sigma": "cannySigma",
  "controlnet-conditioning-scale": "controlnetConditioningScale",
  "control-guidance-start": "controlGuidanceStart",
  "control-guidance-end": "controlGuidanceEnd",
  "view-batch-size": "viewBatchSize",
};

/** --no-<flag> turns a mechanism off (ablations). */
export const SWITCH_FLAGS = {
  "progressive-upscaling": "progressiveUpscaling",
  "skip-residual": "skipResidual",
  multidiffusion: "multidiffusion",
  "dilated-sampling": "dilatedSampling",
  gaussian: "gaussian",
  "patch-prompts": "patchPrompts",
  "window-interaction": "windowInteraction",
  controlnet: "controlnet",
} as const;

export function parseSize(s: string): { width: number; height: number } {
  const m = /^(\d+)x(\d+)$/i.exec(s.trim());
  if (!m) throw usageError(`--size must look like 2048x2048, got '${s}'`);
  return { width: Number(m[1]), height: Number(m[2]) };
}

function parseNumber(flag: string, v: string): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n)) throw usageError(`--${flag} must be a number, got '${v}'`);
  return n;
}

/** parseArgs options for the request flags (strings; numbers are checked after parsing). */
export function requestFlagOptions() {
  const opts: Record<string, { type: "string" | "boolean"; short?: string }> = {
    prompt: { type: "string", short: "p" },
    negative: { type: "string" },
    size: { type: "string", short: "s" },
    format: { type: "string" },
    "reference-compat": { type: "boolean" },
  };
  for (const f of Object.keys(NUMBER_FLAGS)) opts[f] = { type: "string" };
  for (const f of Object.keys(SWITCH_FLAGS)) {
    opts[f] = { type: "boolean" };
    opts[`no-${f}`] = { type: "boolean" };
  }
  return opts;
}

/** Builds the GenerationRequest from parsed flag values. */
export function requestFromFlags(
  values: Record<string, string | boolean | undefined>,
  defaults: { size?: string } = {},
): GenerationRequest {
  const prompt = values.prompt;
  if (typeof prompt !== "string" || prompt.trim() === "") throw usageError("--prompt is required");
  const sizeFlag = (values.size as string | undefined) ?? defaults.size;
  if (!sizeFlag) throw usageError("--size is required, e.g. --size 2048x2048");
  const req: Record<string, unknown> = { prompt, ...parseSize(sizeFlag) };
  if (typeof values.negative === "string") req.negativePrompt = values.negative;
  if (typeof values.format === "string") req.format = values.format;
  if (values["reference-compat"]) req.referenceCompat = true;
  for (const [flag, key] of Object.entries(NUMBER_FLAGS)) {
    const v = values[flag];
    if (typeof v === "string") req[key] = parseNumber(flag, v);
  }
  const switches: Record<string, boolean> = {};
  for (const [flag, key] of Object.entries(SWITCH_FLAGS)) {
    if (values[`no-${flag}`]) switches[key] = false;
    else if (values[flag]) switches[key] = true;
  }
  if (Object.keys(switches).length) req.switches = switches;
  return req as GenerationRequest;
}

const FIELD_TO_FLAG: Record<string, string> = Object.fromEntries([
  ...Object.entries(NUMBER_FLAGS).map(([f, k]) => [k, `--${f}`]),
  ["prompt", "--prompt"],
  ["negativePrompt", "--negative"],
  ["width", "--size (width)"],
  ["height", "--size (height)"],
  ["format", "--format"],
]);

/** Validates with the API's schema for this bundle; the first problem becomes one readable line. */
export function resolveCliRequest(
  req: GenerationRequest,
  baseResolution: number,
  maxSide = DEFAULT_LIMITS.maxSide,
): ResolvedRequest {
  const limits = { ...DEFAULT_LIMITS, baseResolution, maxSide: Math.max(maxSide, baseResolution) };
  const parsed = makeGenerationRequestSchema(limits).safeParse(req);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = formatPath(issue.path);
    const flag = FIELD_TO_FLAG[path] ?? (path.startsWith("switches.") ? `--no-${path.slice(9)}` : path || "request");
    throw usageError(`${flag}: ${issue.message}`);
  }
  try {
    return resolveRequest(req, limits);
  } catch (e) {
    if (e instanceof z.ZodError) throw usageError(e.issues[0].message);
    throw e;
  }
}
