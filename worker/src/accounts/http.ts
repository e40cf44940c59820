/** HTTP helpers of the accounts routes: problem+json errors and strict JSON bodies. */
import { fromZodError, type ProblemDetails, problem, problemResponse } from "@accdiff/shared";
import type { Context } from "hono";
import type { z } from "zod";

/** Thrown by handlers; the routes' onError turns it into its problem+json response. */
export class ProblemError extends Error {
  constructor(
    readonly problem: ProblemDetails,
    readonly headers: Record<string, string> = {},
  ) {
    super(problem.detail ?? problem.title);
  }
}

export function fail(status: number, title: string, detail?: string, extra?: Partial<ProblemDetails>): never {
  throw new ProblemError(problem(status, title, detail, extra));
}

/** onError for the accounts sub-apps: every error leaves as problem+json, internals never leak. */
export function problemOnError(err: Error, _c: Context): Response {
  if (err instanceof ProblemError) return problemResponse(err.problem, err.headers);
  console.error("accounts: unhandled error", err);
  return problemResponse(problem(500, "Internal error", "an unexpected error occurred"));
}

const MAX_BODY_BYTES = 16 * 1024;

/**
 * Parses a small JSON body against a strict schema: 413 when too large, 415 on another content type, 400 on bad
 * JSON, 422 on schema errors. An empty body is parsed as `{}` so that all-optional bodies may be omitted.
 */
export async function readJson<S extends z.ZodType>(c: Context, schema: S): Promise<z.output<S>> {
  const length = Number(c.req.header("content-length") ?? "0");
  if (length > MAX_BODY_BYTES) fail(413, "Payload too large", `body over ${MAX_BODY_BYTES} bytes`);
  const type = c.req.header("content-type");
  const json = type !== undefined && /^application\/(?:[\w.+-]+\+)?json\b/i.test(type);
  if (type !== undefined && !json) fail(415, "Unsupported media type", "send application/json");
  const text = await c.req.text();
  if (text.length > MAX_BODY_BYTES) fail(413, "Payload too large", `body over ${MAX_BODY_BYTES} bytes`);
  let value: unknown = {};
  if (text.trim() !== "") {
    if (!json) fail(415, "Unsupported media type", "send application/json");
    try {
      value = JSON.parse(text);
    } catch {
      fail(400, "Malformed JSON", "the body is not valid JSON");
    }
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ProblemError(fromZodError(parsed.error));
  return parsed.data;
}
