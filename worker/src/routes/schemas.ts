/**
 * Response schemas of the small public routes (quote, uploads), for the OpenAPI document; the job representation
 * is jobs/viewSchema.ts and the usage one accounts/schemas.ts.
 */
import { z } from "zod";
import { CacheUseSchema, JobViewSchema, QuoteSchema } from "../jobs/viewSchema";

export const QuoteResponseSchema = QuoteSchema.extend({
  phases: z.array(z.number().int()).describe("the phases a render of this request runs (1 = the base resolution)"),
  cache: CacheUseSchema.nullable().describe("what the cache would serve (with prompt and seed); null otherwise"),
});

export const UploadSchema = z.strictObject({
  sha256: z.string().describe("content address: put {sha256, width, height} in a request's `image`"),
  width: z.number().int(),
  height: z.number().int(),
  contentType: z.enum(["image/png", "image/jpeg", "image/webp"]),
  bytes: z.number().int(),
});

export const ImageListSchema = z.strictObject({
  object: z.literal("list"),
  data: z.array(JobViewSchema).describe("the account's jobs, newest first"),
  nextCursor: z.string().nullable().describe("pass as `cursor` for the next (older) page; null on the last page"),
});
