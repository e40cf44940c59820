/**
 * The public API's OpenAPI 3.1 document (GET /openapi.json): what an app developer generates a client from. Schemas
 * come from the zod schemas the routes validate with and build their answers from; the contract tests check every
 * response the worker and end-to-end suites receive against this document.
 */
import { GenerationRequestSchema, ImageInputSchema } from "@accdiff/shared";
import { UsageSchema } from "../accounts/schemas";
import { EndEventSchema, ProgressEventSchema } from "../jobs/eventSchemas";
import { JobViewSchema } from "../jobs/viewSchema";
import { ImageListSchema, QuoteResponseSchema, UploadSchema } from "../routes/schemas";
import {
  binarySchema,
  componentSchemas,
  fileResponse,
  json,
  problem,
  problemSchema,
  rateLimitHeaders,
  ref,
} from "./components";
import { EVENTS_DESCRIPTION, streamEventSchema } from "./eventStream";
import { headerParameter, pageParameters, pathParameter, queryParameter } from "./parameters";
import { quoteParameters } from "./quoteParameters";
import { webhookPaths, webhookSchemas } from "./webhooks";

const idParam = pathParameter("id", "the job id", { type: "string", pattern: "^[0-9a-f]{64}$" });
/** The query of a signed link (http/signedUrl.ts): what lets a URL work without the API key. */
const signedLinkParameters = [
  queryParameter("exp", "signed link expiry", { type: "integer" }),
  queryParameter("sig", "signed link signature", { type: "string" }),
];
const common = {
  "401": problem("missing, unknown or revoked API key"),
  "503": problem("the deployment is misconfigured or overloaded; retry after `Retry-After` seconds"),
  "429": {
    ...problem("rate limit reached; retry after `Retry-After` seconds"),
    headers: { "Retry-After": { schema: { type: "integer" } }, ...rateLimitHeaders },
  },
};

/** Headers of POST /v1/images's answers, whether the job has ended (200) or not (202). */
const createdJobHeaders = {
  Location: { description: "the job's path", schema: { type: "string" } },
  "Preference-Applied": { description: "`wait=N` when Prefer: wait was honoured", schema: { type: "string" } },
};

const REQUEST_EXAMPLE = {
  prompt: "a cat and a dog are playing on the lawn",
  width: 4096,
  height: 4096,
  seed: 42,
  steps: 30,
  format: "png",
};

const DESCRIPTION = `Turns SDXL into a 2K-4K image generator (AccDiffusion v2).

Flow: \`POST /v1/images\` answers 202 with the job (its quote and links) or 200 when every phase was already
cached; follow it with \`GET /v1/images/{id}\` or the Server-Sent Events at \`links.events\`; download the files by
their \`url\`.

Jobs are priced per output megapixel of each phase (integer microdollars); phases already computed for an earlier
request are served from cache at a lower price. Errors are RFC 9457 problem+json. Every authenticated response carries
RateLimit-Limit/Remaining/Reset headers.

Links: every \`url\` in a job (and \`links.stream\`) is signed and works without the API key for 15 minutes
(\`exp\` in its query says until when); \`GET /v1/images/{id}\` signs them again, so an app refreshes an expired
link by reading the job. Downloads with the API key need no signature.

CORS: browsers may call /v1 from the origins the deployment lists (CORS_ORIGINS); preflights need no key.

Webhooks: a job may name a \`webhook\` (https): signed POSTs (Standard Webhooks: webhook-id, webhook-timestamp,
webhook-signature) of the events in \`webhook_events\`, retried with backoff until answered 2xx. Create the account's
signing secret first with \`POST /v1/webhooks/secret\`.

Retention: a job and its files stay available for as long as the deployment keeps its images bucket (its lifecycle
rule, at least 30 days); phases cached for reuse are kept 30 days.`;

export function publicDocument(serverUrl: string) {
  return {
    openapi: "3.1.0",
    info: {
      title: "AccDiffusion v2 API",
      version: "1.0.0",
      description: DESCRIPTION,
      license: { name: "Proprietary", identifier: "LicenseRef-Proprietary" },
    },
    servers: [{ url: serverUrl, description: "this deployment" }],
    tags: [
      { name: "images", description: "image jobs: create, follow, cancel, download" },
      { name: "uploads", description: "images to upscale" },
      { name: "billing", description: "prices, balance and ledger" },
      { name: "webhooks", description: "signed completion callbacks: the signing secret and a job's deliveries" },
    ],
    security: [{ apiKey: [] }],
    components: {
      securitySchemes: { apiKey: { type: "http", scheme: "bearer", description: "an account's API key" } },
      schemas: {
        ...componentSchemas({ GenerationRequest: GenerationRequestSchema, ImageInput: ImageInputSchema }, "input"),
        ...componentSchemas({
          Job: JobViewSchema,
          ImageList: ImageListSchema,
          ProgressEvent: ProgressEventSchema,
          EndEvent: EndEventSchema,
          Quote: QuoteResponseSchema,
          Upload: UploadSchema,
          Usage: UsageSchema,
        }),
        StreamEvent: streamEventSchema,
        Problem: problemSchema,
        ...webhookSchemas,
      },
    },
    paths: {
      ...webhookPaths(common, idParam),
      "/v1/images": {
        get: {
          operationId: "listImages",
          tags: ["images"],
          summary: "The account's jobs, newest first (cursor pagination), e.g. to rebuild a gallery",
          parameters: pageParameters("jobs per page", { maximum: 100, default: 20 }, "a page's `nextCursor` (opaque)"),
          responses: {
            "200": json("one page of jobs", ref("ImageList")),
            "400": problem("bad limit or cursor"),
            ...common,
          },
        },
        post: {
          operationId: "createImage",
          tags: ["images"],
          summary: "Create an image job",
          description:
            "JSON, or multipart with the request as JSON in `request` and an image to upscale in `image`. The same " +
            "`Idempotency-Key` with the same body answers the first job again instead of creating another.",
          parameters: [
            headerParameter(
              "Idempotency-Key",
              "makes retries safe: the same key and body answer the job the first call created",
              { type: "string", maxLength: 255 },
            ),
            headerParameter(
              "Prefer",
              "`wait=N` (RFC 7240, N <= 60 seconds): answer when the job has ended (200 with the finished job) or " +
                "after N seconds (202 with its state then); `Preference-Applied` echoes it",
              { type: "string", example: "wait=30" },
            ),
          ],
          requestBody: {
            required: true,
            content: {
              "application/json": {
                schema: ref("GenerationRequest"),
                example: REQUEST_EXAMPLE,
              },
              "multipart/form-data": {
                schema: {
                  type: "object",
                  properties: { request: ref("GenerationRequest"), image: { type: "string", format: "binary" } },
                  required: ["request"],
                },
                encoding: {
                  request: { contentType: "application/json" },
                  image: { contentType: "image/png, image/jpeg, image/webp" },
                },
              },
            },
          },
          responses: {
            "200": json(
              "the job has ended: every phase was cached (no runner involved), or it finished within Prefer: wait",
              ref("Job"),
              undefined,
              createdJobHeaders,
            ),
            "202": json("accepted: the job, its quote and links", ref("Job"), undefined, createdJobHeaders),
            "400": problem("malformed body"),
            "402": problem("the balance does not cover the quote"),
            "409": problem("Idempotency-Key reused with another body"),
            "413": problem("body or image too large"),
            "415": problem("unsupported content type or image format"),
            "422": problem("validation failed (errors[] lists the fields)", {
              type: "https://accdiff.dev/problems/validation-failed",
              title: "Validation failed",
              status: 422,
              errors: [{ path: "width", message: "must be a multiple of 8" }],
            }),
            ...common,
          },
        },
      },
      "/v1/images/{id}": {
        parameters: [idParam],
        get: {
          operationId: "getImage",
          tags: ["images"],
          summary: "Job status, progress, preview and results (links signed again)",
          responses: { "200": json("the job", ref("Job")), "404": problem("no such job (or not yours)"), ...common },
        },
        delete: {
          operationId: "cancelImage",
          tags: ["images"],
          summary: "Cancel a job (pays for the phases it completed)",
          responses: {
            "200": json("the cancelled job", ref("Job")),
            "404": problem("no such job"),
            "409": problem("already finished"),
            ...common,
          },
        },
      },
      "/v1/images/{id}/events": {
        parameters: [idParam],
        get: {
          operationId: "streamImageEvents",
          tags: ["images"],
          summary: "Server-Sent Events of a job until it ends",
          description: EVENTS_DESCRIPTION,
          security: [{ apiKey: [] }, {}],
          parameters: [
            headerParameter(
              "Last-Event-ID",
              "the last event id received: the stream resumes after it (EventSource sends it itself)",
              { type: "string", pattern: "^[0-9]+$" },
            ),
            ...signedLinkParameters,
          ],
          responses: {
            "200": {
              description: "the event stream (see the operation's description for its events)",
              content: {
                "text/event-stream": { schema: ref("StreamEvent") },
              },
            },
            "204": { description: "the job had ended before the Last-Event-ID sent: nothing more will come" },
            "401": problem("no key, or a bad or expired signed link"),
            "404": problem("no such job"),
            "429": common["429"],
          },
        },
      },
      "/v1/images/{id}/files/{name}": {
        parameters: [
          idParam,
          pathParameter(
            "name",
            "a file's `name`: image.<ext> (final), preview.<ext>, phase-<k>.<ext>, canny-<k>.png, ...",
            { type: "string" },
          ),
        ],
        get: {
          operationId: "downloadImageFile",
          tags: ["images"],
          summary: "Download a file of the job (ETag, immutable caching, Range); by API key or signed link",
          security: [{ apiKey: [] }, {}],
          parameters: signedLinkParameters,
          responses: {
            "200": fileResponse("the file"),
            "206": fileResponse("the requested byte range"),
            "304": { description: "not modified (If-None-Match)" },
            "401": problem("bad or expired signed link, or no key"),
            "404": problem("no such file"),
            "416": problem("range not satisfiable"),
            "429": common["429"],
          },
        },
      },
      "/v1/uploads": {
        post: {
          operationId: "createUpload",
          tags: ["uploads"],
          summary: "Upload an image to upscale; answers the reference for a request's `image` field",
          requestBody: {
            required: true,
            content: {
              "image/png": { schema: binarySchema },
              "image/jpeg": { schema: binarySchema },
              "image/webp": { schema: binarySchema },
              "application/json": {
                schema: {
                  type: "object",
                  properties: { imageBase64: { type: "string", contentEncoding: "base64" } },
                  required: ["imageBase64"],
                },
              },
            },
          },
          responses: {
            "201": json("the stored image: pass {sha256, width, height} as the request's `image`", ref("Upload")),
            "400": problem("malformed body"),
            "413": problem("too many bytes"),
            "415": problem("not a PNG, JPEG or WebP"),
            "422": problem("too many pixels"),
            ...common,
          },
        },
      },
      "/v1/usage": {
        get: {
          operationId: "getUsage",
          tags: ["billing"],
          summary: "Balance, open reservations and one page of the ledger (newest first)",
          parameters: pageParameters("entries per page", { maximum: 200, default: 50 }, "a page's `ledger.nextCursor`"),
          responses: {
            "200": json("the account's usage", ref("Usage")),
            "400": problem("bad limit or cursor"),
            "404": problem("no such account"),
            ...common,
          },
        },
      },
      "/v1/usage/export": {
        get: {
          operationId: "exportUsage",
          tags: ["billing"],
          summary: "The ledger as CSV for invoicing (oldest first)",
          parameters: [
            queryParameter("from", "ISO 8601 date or date-time, inclusive", { type: "string" }),
            queryParameter("to", "ISO 8601 date or date-time, exclusive", { type: "string" }),
          ],
          responses: {
            "200": { description: "text/csv", content: { "text/csv": { schema: { type: "string" } } } },
            "400": problem("bad from or to"),
            ...common,
          },
        },
      },
      "/v1/quote": {
        get: {
          operationId: "getQuote",
          tags: ["billing"],
          summary: "Price of a render without running it (cache-aware with prompt and seed)",
          description:
            "Takes the request body's fields as query parameters (nested ones dotted: `switches.controlnet=false`, " +
            "`image.sha256=...`). With a prompt and a seed the quote says which phases the cache would serve.",
          parameters: quoteParameters(),
          responses: {
            "200": json("the quote", ref("Quote"), {
              price: 8800,
              currency: "USD",
              unit: "microdollars",
              lines: [{ phase: 1, width: 1024, height: 1024, megapixels: 1.048576, cached: false, amount: 8800 }],
              phases: [1],
              cache: null,
            }),
            "422": problem("validation failed"),
            ...common,
          },
        },
      },
    },
  };
}
