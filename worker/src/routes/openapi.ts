/**
 * GET /openapi.json — OpenAPI 3.1, generated from the zod schemas the routes validate with (zod's JSON Schema output
 * is draft 2020-12, which OpenAPI 3.1 uses as is).
 */
import { GenerationRequestSchema, ImageInputSchema, RunnerEventSchema, RunnerJobSchema } from "@accdiff/shared";
import { Hono } from "hono";
import { z } from "zod";
import { JobViewSchema, ProblemSchema, QuoteSchema } from "../jobs/viewSchema";
import type { AppEnv } from "./context";

function schema(s: z.ZodType, io: "input" | "output" = "output") {
  const { $schema: _drop, ...rest } = z.toJSONSchema(s, {
    io,
    unrepresentable: "any",
    target: "draft-2020-12",
  }) as Record<string, unknown>;
  return rest;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const problem = (description: string) => ({
  description,
  content: { "application/problem+json": { schema: ref("Problem") } },
});
const json = (description: string, name: string) => ({
  description,
  content: { "application/json": { schema: ref(name) } },
});
const bearer = [{ apiKey: [] }];
const idParam = { name: "id", in: "path", required: true, schema: { type: "string", pattern: "^[0-9a-f]{64}$" } };
const common = {
  "401": problem("missing, unknown or revoked API key"),
  "429": problem("rate limit (Retry-After)"),
};

export function openApiDocument(serverUrl: string) {
  return {
    openapi: "3.1.0",
    info: {
      title: "AccDiffusion v2 API",
      version: "1.0.0",
      description:
        "Turns SDXL into a 2K-4K image generator (AccDiffusion v2). Jobs are priced per output megapixel of each phase; " +
        "phases already computed for an earlier request are served from cache at a lower price. Errors are RFC 9457 " +
        "problem+json. Every authenticated response carries RateLimit-Limit/Remaining/Reset headers. A job may name a " +
        "`webhook`: signed POSTs (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature) of the events " +
        "in `webhook_events`, retried with backoff until answered 2xx.",
    },
    servers: [{ url: serverUrl }],
    components: {
      securitySchemes: { apiKey: { type: "http", scheme: "bearer" } },
      schemas: {
        GenerationRequest: schema(GenerationRequestSchema, "input"),
        ImageInput: schema(ImageInputSchema, "input"),
        Job: schema(JobViewSchema),
        Quote: schema(QuoteSchema),
        Problem: schema(ProblemSchema),
        RunnerJob: schema(RunnerJobSchema),
        RunnerEvent: schema(RunnerEventSchema),
      },
    },
    security: bearer,
    paths: {
      "/v1/images": {
        post: {
          summary: "Create an image job",
          parameters: [
            { name: "Idempotency-Key", in: "header", required: false, schema: { type: "string", maxLength: 255 } },
          ],
          requestBody: {
            required: true,
            content: {
              "application/json": {
                schema: {
                  allOf: [ref("GenerationRequest")],
                  description: "may also carry `imageBase64` (PNG, JPEG or WebP) to upscale",
                },
              },
              "multipart/form-data": {
                schema: {
                  type: "object",
                  properties: { request: ref("GenerationRequest"), image: { type: "string", format: "binary" } },
                  required: ["request"],
                },
              },
            },
          },
          responses: {
            "200": json("every phase was cached: the finished job, no runner involved", "Job"),
            "202": json("accepted: the job, its quote and links", "Job"),
            "400": problem("malformed body"),
            "402": problem("the balance does not cover the quote"),
            "409": problem("Idempotency-Key reused with another body"),
            "413": problem("body or image too large"),
            "415": problem("unsupported content type or image format"),
            "422": problem("validation failed (errors[] lists the fields)"),
            ...common,
          },
        },
      },
      "/v1/images/{id}": {
        parameters: [idParam],
        get: {
          summary: "Job status, progress, preview and results",
          responses: { "200": json("the job", "Job"), "404": problem("no such job (or not yours)"), ...common },
        },
        delete: {
          summary: "Cancel a job (pays for the phases it completed)",
          responses: {
            "200": json("the cancelled job", "Job"),
            "404": problem("no such job"),
            "409": problem("already finished"),
            ...common,
          },
        },
      },
      "/v1/images/{id}/events": {
        parameters: [idParam],
        get: {
          summary: "Server-Sent Events: `job` messages with the job representation, then `end`",
          responses: {
            "200": {
              description: "text/event-stream",
              content: { "text/event-stream": { schema: { type: "string" } } },
            },
            "404": problem("no such job"),
            ...common,
          },
        },
      },
      "/v1/images/{id}/files/{name}": {
        parameters: [idParam, { name: "name", in: "path", required: true, schema: { type: "string" } }],
        get: {
          summary:
            "Download an artifact by its name (see the job's files), or image.<png|webp|jpeg> / preview.<png|webp|jpeg>; " +
            "ETag, immutable caching, Range; by API key or a signed link (exp, sig)",
          security: [{ apiKey: [] }, {}],
          parameters: [
            { name: "exp", in: "query", required: false, schema: { type: "integer" } },
            { name: "sig", in: "query", required: false, schema: { type: "string" } },
          ],
          responses: {
            "200": { description: "the file" },
            "206": { description: "the requested byte range" },
            "304": { description: "not modified (If-None-Match)" },
            "401": problem("bad or expired signed link, or no key"),
            "404": problem("no such file"),
            "416": problem("range not satisfiable"),
          },
        },
      },
      "/v1/uploads": {
        post: {
          summary: "Upload an image to upscale; answers the reference for a request's `image` field",
          requestBody: {
            required: true,
            content: {
              "image/png": { schema: { type: "string", format: "binary" } },
              "image/jpeg": { schema: { type: "string", format: "binary" } },
              "image/webp": { schema: { type: "string", format: "binary" } },
              "application/json": {
                schema: { type: "object", properties: { imageBase64: { type: "string" } }, required: ["imageBase64"] },
              },
            },
          },
          responses: {
            "201": json("the stored image's reference (plus contentType and bytes)", "ImageInput"),
            "413": problem("too many bytes"),
            "415": problem("not a PNG, JPEG or WebP"),
            "422": problem("too many pixels"),
            ...common,
          },
        },
      },
      "/v1/usage": {
        get: {
          summary: "Balance, open reservations and one page of the ledger (newest first)",
          parameters: [
            { name: "limit", in: "query", required: false, schema: { type: "integer", minimum: 1 } },
            { name: "cursor", in: "query", required: false, schema: { type: "string" } },
          ],
          responses: { "200": { description: "usage (see the billing documentation)" }, ...common },
        },
      },
      "/v1/usage/export": {
        get: {
          summary: "The ledger as CSV for invoicing (oldest first)",
          parameters: [
            { name: "from", in: "query", required: false, schema: { type: "string" } },
            { name: "to", in: "query", required: false, schema: { type: "string" } },
          ],
          responses: {
            "200": { description: "text/csv", content: { "text/csv": { schema: { type: "string" } } } },
            ...common,
          },
        },
      },
      "/v1/images/{id}/webhooks": {
        parameters: [idParam],
        get: {
          summary: "The job's webhook deliveries: event, state, attempts, last answer, next attempt",
          responses: { "200": { description: "{webhook, deliveries[]}" }, "404": problem("no such job"), ...common },
        },
      },
      "/v1/webhooks/secret": {
        post: {
          summary:
            "Create or rotate the account's webhook signing secret (whsec_...); the only time it is shown. After a " +
            "rotation the previous secret keeps signing (a second v1 signature) for 24 hours",
          responses: { "201": { description: "{secret, createdAt, previousValidUntil}" }, ...common },
        },
        get: {
          summary: "When the signing secret was made (never the secret)",
          responses: {
            "200": { description: "{createdAt, previousValidUntil}" },
            "404": problem("no secret yet"),
            ...common,
          },
        },
      },
      "/v1/quote": {
        get: {
          summary:
            "Price of a render without running it (the body's fields as query parameters; cache-aware with prompt and seed)",
          responses: { "200": json("the quote", "Quote"), "422": problem("validation failed"), ...common },
        },
      },
    },
  };
}

export const openApiRoutes = new Hono<AppEnv>();

openApiRoutes.get("/openapi.json", (c) => c.json(openApiDocument(new URL(c.req.url).origin)));
