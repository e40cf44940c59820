/**
 * GET /v1/quote's query parameters, derived from the request schema so that they cannot drift from it: each field
 * of GenerationRequest is a parameter, nested objects' fields dotted (`switches.controlnet`, `image.sha256`), as
 * routes/quote.ts reads them. width and height are required; everything else is optional, as in the body.
 */
import { GenerationRequestSchema } from "@accdiff/shared";
import { z } from "zod";

type Json = Record<string, unknown>;

const REQUIRED = new Set(["width", "height"]);

function flatten(prefix: string, schema: Json, out: Json[]) {
  const props = (schema.properties ?? {}) as Record<string, Json>;
  for (const [name, s] of Object.entries(props)) {
    const full = prefix ? `${prefix}.${name}` : name;
    if (s.type === "object" && s.properties) {
      flatten(full, s, out);
      continue;
    }
    const { description, ...rest } = s;
    out.push({
      name: full,
      in: "query",
      required: REQUIRED.has(full),
      description: typeof description === "string" ? description : `the request's \`${full}\``,
      schema: rest,
    });
  }
}

export function quoteParameters(): Json[] {
  const schema = z.toJSONSchema(GenerationRequestSchema, {
    io: "input",
    target: "draft-2020-12",
    unrepresentable: "any",
  }) as Json;
  const out: Json[] = [];
  flatten("", schema, out);
  return out;
}
