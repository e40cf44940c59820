/**
 * `bundle.json`: the schema of a model bundle's self-description (docs/model-bundle.md) and its
 * reading, with problems worded for people fixing a bundle by hand.
 */
import { readFile } from "node:fs/promises";
import { isAbsolute, join, normalize, sep } from "node:path";
import { z } from "zod";
import type { BundleInfo } from "./types";

/** The contract versions this runner reads: /2 adds the fused `unet_controlnet` component (docs/model-bundle.md). */
export const BUNDLE_FORMAT_V1 = "accdiff-bundle/1";
export const BUNDLE_FORMAT = "accdiff-bundle/2";

/** The ONNX components every bundle has; `controlnet` joins them when bundle.json names one. */
export const REQUIRED_COMPONENTS = ["text_encoder", "text_encoder_2", "unet", "vae_decoder", "vae_encoder"] as const;
export type OnnxComponent = (typeof REQUIRED_COMPONENTS)[number] | "controlnet" | "unet_controlnet";

const positiveInt = z.number().int().positive();

/** A path inside the bundle folder: relative, no `..` escaping it. */
const bundlePath = z
  .string()
  .min(1)
  .refine((p) => !isAbsolute(p) && !normalize(p).split(/[\\/]/).includes(".."), {
    message: "must be a relative path inside the bundle (no absolute path, no '..')",
  });

export const SchedulerConfigSchema = z.object({
  numTrainTimesteps: positiveInt,
  betaStart: z.number().positive(),
  betaEnd: z.number().positive(),
  betaSchedule: z.enum(["scaled_linear", "linear"]),
  timestepSpacing: z.enum(["leading", "trailing", "linspace"]),
  stepsOffset: z.number().int().nonnegative(),
  predictionType: z.literal("epsilon"),
});

export const BundleJsonSchema = z
  .object({
    format: z.enum([BUNDLE_FORMAT_V1, BUNDLE_FORMAT]),
    name: z.string().min(1),
    version: z.string().min(1),
    hash: z.string().min(1),
    baseResolution: positiveInt,
    vaeScaleFactor: positiveInt,
    latentChannels: positiveInt,
    vaeScalingFactor: z.number().positive(),
    dtype: z.enum(["fp16", "fp32"]),
    attentionDivisor: positiveInt,
    textEmbedDim: positiveInt,
    pooledDim: positiveInt,
    maxTokens: z.number().int().min(3),
    scheduler: SchedulerConfigSchema,
    controlnet: z.literal("canny").nullable().optional(),
    components: z
      .object({
        text_encoder: bundlePath,
        text_encoder_2: bundlePath,
        unet: bundlePath,
        vae_decoder: bundlePath,
        vae_encoder: bundlePath,
        controlnet: bundlePath.optional(),
        unet_controlnet: bundlePath.optional(),
        tokenizer: bundlePath.optional(),
        tokenizer_2: bundlePath.optional(),
      })
      .loose(),
  })
  .loose()
  .superRefine((b, ctx) => {
    if (b.attentionDivisor % b.vaeScaleFactor !== 0) {
      ctx.addIssue({
        code: "custom",
        path: ["attentionDivisor"],
        message: `must be a multiple of vaeScaleFactor (${b.vaeScaleFactor}), found ${b.attentionDivisor}`,
      });
    }
    if (b.baseResolution % b.attentionDivisor !== 0) {
      ctx.addIssue({
        code: "custom",
        path: ["baseResolution"],
        message: `must be a multiple of attentionDivisor (${b.attentionDivisor}), found ${b.baseResolution}`,
      });
    }
    if (b.controlnet && b.components.controlnet === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["components", "controlnet"],
        message: `required because "controlnet" is "${b.controlnet}"`,
      });
    }
    const fused = b.components.unet_controlnet !== undefined;
    if (fused && b.format === BUNDLE_FORMAT_V1) {
      ctx.addIssue({
        code: "custom",
        path: ["components", "unet_controlnet"],
        message: `the fused component needs format "${BUNDLE_FORMAT}" (found "${b.format}")`,
      });
    }
    if (fused && !b.controlnet) {
      ctx.addIssue({
        code: "custom",
        path: ["components", "unet_controlnet"],
        message: 'a fused ControlNet + UNet needs "controlnet" set',
      });
    }
    if (b.format === BUNDLE_FORMAT && b.controlnet && !fused) {
      ctx.addIssue({
        code: "custom",
        path: ["components", "unet_controlnet"],
        message: `required by "${BUNDLE_FORMAT}" when "controlnet" is set (a bundle with separate models only is "${BUNDLE_FORMAT_V1}")`,
      });
    }
  });

export type BundleJson = z.infer<typeof BundleJsonSchema>;

const KNOWN_TOP_LEVEL = new Set(Object.keys(BundleJsonSchema.shape ?? {}));

/** Renders zod issues as `bundle.json: scheduler.betaStart: <message>` lines. */
export function describeIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const where = issue.path.length > 0 ? issue.path.map(String).join(".") : "(top level)";
    return `bundle.json: ${where}: ${issue.message}`;
  });
}

export type BundleJsonResult =
  | { ok: true; bundle: BundleJson; warnings: string[] }
  | { ok: false; problems: string[]; warnings: string[] };

/** Validates already-parsed JSON. Unknown top-level fields are warnings (room for later versions). */
export function parseBundleJson(raw: unknown): BundleJsonResult {
  const warnings: string[] = [];
  if (raw !== null && typeof raw === "object" && !Array.isArray(raw)) {
    for (const key of Object.keys(raw)) {
      if (!KNOWN_TOP_LEVEL.has(key)) warnings.push(`bundle.json: unknown field '${key}' ignored`);
    }
  }
  const parsed = BundleJsonSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, problems: describeIssues(parsed.error), warnings };
  return { ok: true, bundle: parsed.data, warnings };
}

/** Reads and validates `<dir>/bundle.json`; a missing file or bad JSON is a problem, never a throw. */
export async function readBundleJson(dir: string): Promise<BundleJsonResult> {
  const path = join(dir, "bundle.json");
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "file not found" : String((e as Error).message);
    return { ok: false, problems: [`bundle.json: cannot read ${path}: ${why}`], warnings: [] };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { ok: false, problems: [`bundle.json: not valid JSON: ${(e as Error).message}`], warnings: [] };
  }
  return parseBundleJson(raw);
}

/** The fields the pipeline sees (`Models.info`). */
export function toBundleInfo(b: BundleJson): BundleInfo {
  return {
    name: b.name,
    version: b.version,
    hash: b.hash,
    baseResolution: b.baseResolution,
    vaeScaleFactor: b.vaeScaleFactor,
    latentChannels: b.latentChannels,
    vaeScalingFactor: b.vaeScalingFactor,
    dtype: b.dtype,
    scheduler: { ...b.scheduler },
    attentionDivisor: b.attentionDivisor,
    textEmbedDim: b.textEmbedDim,
    pooledDim: b.pooledDim,
    maxTokens: b.maxTokens,
  };
}

/** The ONNX components this bundle must have. */
export function bundleComponents(b: BundleJson): OnnxComponent[] {
  const out: OnnxComponent[] = [...REQUIRED_COMPONENTS];
  if (b.controlnet) out.push("controlnet");
  if (b.controlnet && b.components.unet_controlnet !== undefined) out.push("unet_controlnet");
  return out;
}

/** Absolute path of a component's model file. */
export function componentPath(dir: string, b: BundleJson, component: OnnxComponent): string {
  const rel = b.components[component];
  if (rel === undefined) throw new Error(`bundle.json names no '${component}' component`);
  return join(dir, rel.split("/").join(sep));
}

/** Folder of tokenizer 1 or 2 (`tokenizer/`, `tokenizer_2/` unless components names another). */
export function tokenizerDir(dir: string, b: BundleJson, which: "tokenizer" | "tokenizer_2"): string {
  const rel = b.components[which] ?? which;
  // A component may name the tokenizer.json itself rather than its folder.
  const folder = rel.endsWith(".json") ? rel.slice(0, Math.max(0, rel.lastIndexOf("/"))) : rel;
  return join(dir, folder);
}
