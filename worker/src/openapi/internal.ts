/**
 * The internal protocol's OpenAPI document (GET /openapi/internal.json): what the worker sends runners (RunnerJob)
 * and the routes runners and Replicate call back. Runner requests are HMAC-signed (shared/signing.ts: method, path,
 * timestamp, nonce, body hash), Replicate's by its webhook signature. Not part of the public API.
 */
import { RunnerEventSchema, RunnerJobSchema } from "@accdiff/shared";
import { componentSchemas, json, problem, problemSchema, ref } from "./components";

const jobId = { name: "id", in: "path", required: true, description: "the job id", schema: { type: "string" } };
const signed = [{ runnerSignature: [] }];
const eventResult = {
  type: "object",
  properties: {
    result: { type: "string", enum: ["applied", "duplicate", "ignored", "buffered"] },
    status: { type: ["string", "null"], description: "the job's status after the event" },
  },
  required: ["result", "status"],
  additionalProperties: false,
};
const tags = ["internal"];

export function internalDocument(serverUrl: string) {
  return {
    openapi: "3.1.0",
    info: {
      title: "AccDiffusion v2 runner protocol",
      version: "1.0.0",
      description:
        "Runners receive a signed `RunnerJob` (POST <runner>/jobs) and answer with signed `RunnerEvent`s and artifact " +
        "uploads to these routes.",
      license: { name: "Proprietary", identifier: "LicenseRef-Proprietary" },
    },
    servers: [{ url: serverUrl, description: "this deployment" }],
    tags: [{ name: "internal", description: "runner and Replicate callbacks" }],
    components: {
      securitySchemes: {
        runnerSignature: {
          type: "apiKey",
          in: "header",
          name: "X-Accdiff-Signature",
          description:
            "HMAC-SHA256 over method, path, timestamp, nonce and body hash, with X-Accdiff-Timestamp and X-Accdiff-Nonce (shared/signing.ts)",
        },
      },
      schemas: {
        ...componentSchemas({ RunnerJob: RunnerJobSchema, RunnerEvent: RunnerEventSchema }),
        Problem: problemSchema,
      },
    },
    webhooks: {
      runnerJob: {
        post: {
          operationId: "dispatchJob",
          tags,
          summary: "What the worker POSTs (signed) to <runner>/jobs: one attempt of a job",
          security: signed,
          requestBody: { required: true, content: { "application/json": { schema: ref("RunnerJob") } } },
          responses: {
            "202": { description: "accepted (queued or running)" },
            "429": { description: "queue full: the worker tries the next runner" },
          },
        },
      },
    },
    paths: {
      "/internal/jobs/{id}/events": {
        parameters: [jobId],
        post: {
          operationId: "postRunnerEvent",
          tags,
          summary: "A runner event (accepted, progress, artifact, completed, failed)",
          security: signed,
          requestBody: { required: true, content: { "application/json": { schema: ref("RunnerEvent") } } },
          responses: {
            "200": json("applied, duplicate or ignored", eventResult),
            "202": json("buffered until the events before it arrive", eventResult),
            "400": problem("malformed event"),
            "401": problem("bad signature or replayed"),
            "404": problem("no such job"),
            "409": problem("unknown attempt"),
            "410": problem("superseded attempt: stop working on it"),
            "413": problem("event too large"),
            "422": problem("not a RunnerEvent"),
            "503": problem("sequence gap: retry"),
          },
        },
      },
      "/internal/jobs/{id}/attempts/{attempt}/artifacts/{kind}/{name}": {
        parameters: [
          jobId,
          { name: "attempt", in: "path", required: true, schema: { type: "integer" } },
          { name: "kind", in: "path", required: true, schema: { type: "string" } },
          { name: "name", in: "path", required: true, schema: { type: "string" } },
        ],
        put: {
          operationId: "putArtifact",
          tags,
          summary: "Upload an artifact (Content-Length required; signed over the body's SHA-256)",
          security: signed,
          requestBody: { required: true, content: { "*/*": { schema: { type: "string", format: "binary" } } } },
          responses: {
            "201": json("stored", {
              type: "object",
              properties: { key: { type: "string" }, bytes: { type: "integer" }, sha256: { type: "string" } },
              required: ["key", "bytes", "sha256"],
              additionalProperties: false,
            }),
            "400": problem("bad kind, name, attempt or Content-Length"),
            "401": problem("bad signature or replayed"),
            "404": problem("no such job"),
            "409": problem("the attempt was not open when the upload began: send it again"),
            "410": problem("superseded attempt, or the job has ended"),
            "411": problem("Content-Length required"),
            "413": problem("too large"),
            "503": problem("the verified upload could not be published: send it again"),
          },
        },
      },
      "/internal/blobs/{key}": {
        parameters: [{ name: "key", in: "path", required: true, schema: { type: "string" } }],
        get: {
          operationId: "getBlob",
          tags,
          summary: "Resume artifacts and input images for runners, by signed link (exp, sig)",
          security: [{}],
          responses: {
            "200": { description: "the blob", content: { "*/*": { schema: { type: "string", format: "binary" } } } },
            "206": {
              description: "a byte range",
              content: { "*/*": { schema: { type: "string", format: "binary" } } },
            },
            "304": { description: "not modified" },
            "401": problem("bad or expired signed link"),
            "404": problem("no such blob"),
            "416": problem("range not satisfiable"),
          },
        },
      },
      "/internal/replicate/{id}": {
        parameters: [jobId],
        post: {
          operationId: "replicateWebhook",
          tags,
          summary: "Replicate prediction webhook (signed by Replicate)",
          security: [{}],
          requestBody: { required: true, content: { "application/json": { schema: { type: "object" } } } },
          responses: {
            "200": json("acknowledged", eventResult),
            "400": problem("not a prediction"),
            "401": problem("bad webhook signature"),
            "404": problem("no such job"),
            "413": problem("too large"),
          },
        },
      },
    },
  };
}
