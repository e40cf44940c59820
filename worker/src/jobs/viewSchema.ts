/**
 * The job representation as a zod schema: the OpenAPI document is generated from it, and the tests parse real
 * responses with it, so the documentation cannot drift from what the API sends.
 */
import { ARTIFACT_KINDS, FAILURE_CODES, JOB_STATUSES, ResolvedRequestSchema } from "@accdiff/shared";
import { z } from "zod";

export const FileSchema = z.strictObject({
  name: z
    .string()
    .describe(
      "download name: image.<ext> (final), preview.<ext> (phase 1), phase-<k>.<ext>, else <kind>[-<phase>].<ext>",
    ),
  kind: z.enum(ARTIFACT_KINDS),
  phase: z.number().int().nullable(),
  contentType: z.string(),
  bytes: z.number().int(),
  sha256: z.string(),
  width: z.number().int().nullable(),
  height: z.number().int().nullable(),
  source: z.enum(["computed", "cache"]),
  meta: z.record(z.string(), z.unknown()).nullable(),
  url: z.string().describe("absolute link, signed for a short time (no API key needed)"),
});

export const QuoteSchema = z.strictObject({
  price: z.number().int().describe("integer microdollars"),
  currency: z.string(),
  unit: z.string(),
  lines: z.array(
    z.strictObject({
      phase: z.number().int(),
      width: z.number().int(),
      height: z.number().int(),
      megapixels: z.number(),
      cached: z.boolean(),
      amount: z.number().int(),
    }),
  ),
});

export const CacheUseSchema = z.strictObject({
  phase1: z.enum(["hit", "miss"]),
  phasesServed: z.array(z.number().int()).describe("upscaling phases served from the cache"),
  phasesComputed: z.array(z.number().int()).describe("phases a runner computes"),
  patchPromptsRecomputed: z.boolean().describe("patch prompts derived again from cached attention maps"),
});

export const JobViewSchema = z.strictObject({
  id: z.string(),
  object: z.literal("image"),
  status: z.enum(JOB_STATUSES),
  queuePosition: z
    .number()
    .int()
    .nullable()
    .describe("jobs ahead of this one in its runner's queue while queued there; null when not known or not queued"),
  createdAt: z.string(),
  updatedAt: z.string(),
  finishedAt: z.string().nullable(),
  request: ResolvedRequestSchema,
  phases: z.array(z.number().int()),
  progress: z.strictObject({
    phase: z.number().int().nullable(),
    step: z.number().int().nullable(),
    steps: z.number().int().nullable(),
    percent: z.number(),
    etaMs: z.number().nullable(),
    phasesDone: z.array(z.number().int()),
  }),
  cache: CacheUseSchema,
  dispatched: z.boolean().describe("false when the cache answered without any runner"),
  attempt: z.number().int(),
  quote: QuoteSchema,
  billing: z.strictObject({
    state: z.enum(["reserved", "captured", "released"]),
    reserved: z.number().int(),
    charged: z.number().int(),
  }),
  preview: FileSchema.nullable().describe("the low-res image, as soon as phase 1 is done"),
  image: FileSchema.nullable().describe("the final image in the requested format, once succeeded"),
  phaseImages: z.array(FileSchema),
  files: z.array(FileSchema),
  result: z
    .strictObject({
      width: z.number().int(),
      height: z.number().int(),
      phasesComputed: z.array(z.number().int()),
      modelEvaluations: z.record(z.string(), z.unknown()),
      timingsMs: z.record(z.string(), z.number()),
    })
    .nullable(),
  warnings: z.array(z.string()),
  error: z
    .strictObject({
      code: z.enum(FAILURE_CODES).describe("stable: switch on it"),
      message: z.string().describe("a sentence to show the user"),
      retryable: z.boolean().describe("true when the same request may succeed later"),
    })
    .nullable(),
  debug: z
    .strictObject({ reason: z.string() })
    .nullable()
    .describe("the internal text of a failure, for support and logs; not for display, not stable"),
  links: z.strictObject({
    self: z.string(),
    events: z.string().describe("Server-Sent Events with the API key"),
    stream: z.string().describe("the same events by a signed link, no header needed (EventSource); short-lived"),
    cancel: z.string(),
  }),
});
