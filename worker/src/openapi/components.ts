/**
 * Building blocks of the OpenAPI documents: zod schemas turned into `components.schemas` (zod's JSON Schema output
 * is draft 2020-12, which OpenAPI 3.1 uses as is; schemas registered together reference each other by $ref), and
 * the small response helpers every document uses (parameter objects: parameters.ts).
 */
import { z } from "zod";

type Json = Record<string, unknown>;

/**
 * components.schemas for `schemas` (name -> zod schema): each converted once, a registered schema nested in another
 * becomes a $ref to its component. `io: "input"` documents what a client may send (defaults optional).
 */
export function componentSchemas(schemas: Record<string, z.ZodType>, io: "input" | "output" = "output") {
  const registry = z.registry<{ id: string }>();
  for (const [id, s] of Object.entries(schemas)) registry.add(s, { id });
  const out = z.toJSONSchema(registry, {
    io,
    target: "draft-2020-12",
    unrepresentable: "any",
    uri: (id) => `#/components/schemas/${id}`,
  }) as { schemas: Record<string, Json> };
  const result: Record<string, Json> = {};
  for (const [id, s] of Object.entries(out.schemas)) {
    // `$id` with a fragment is not a valid 2020-12 id, and `$schema` is implied by the document's dialect.
    const { $schema: _s, $id: _i, ...rest } = s;
    result[id] = rest;
  }
  return result;
}

export const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

export function problem(description: string, example?: Json) {
  return {
    description,
    content: {
      "application/problem+json": { schema: ref("Problem"), ...(example ? { example } : {}) },
    },
  };
}

export function json(description: string, schema: Json, example?: unknown, headers?: Json) {
  return {
    description,
    ...(headers ? { headers } : {}),
    content: { "application/json": { schema, ...(example !== undefined ? { example } : {}) } },
  };
}

/** A file's bytes, of whatever media type the content entry names. */
export const binarySchema = { type: "string", format: "binary" };

/** A response whose body is a file of any type (downloads). */
export const fileResponse = (description: string) => ({ description, content: { "*/*": { schema: binarySchema } } });

export const rateLimitHeaders = {
  "RateLimit-Limit": { description: "bucket size (requests)", schema: { type: "integer" } },
  "RateLimit-Remaining": { description: "requests left in the bucket", schema: { type: "integer" } },
  "RateLimit-Reset": { description: "seconds until the bucket is full again", schema: { type: "integer" } },
};

export const problemSchema = {
  type: "object",
  description: "RFC 9457 problem details; `type` is a stable URI per kind of error",
  properties: {
    type: { type: "string" },
    title: { type: "string" },
    status: { type: "integer" },
    detail: { type: "string" },
    instance: { type: "string" },
    errors: {
      type: "array",
      description: "one entry per invalid field (validation errors)",
      items: {
        type: "object",
        properties: { path: { type: "string" }, message: { type: "string" } },
        required: ["path", "message"],
        additionalProperties: false,
      },
    },
  },
  required: ["type", "title", "status"],
  additionalProperties: true,
};
