/** RFC 9457 problem details: every error of the API and the runner has this shape. */
import type { z } from "zod";

export interface FieldError {
  /** Field path, e.g. "switches.gaussian" or "views[2]". Empty for the whole body. */
  path: string;
  message: string;
}

export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  errors?: FieldError[];
  [extension: string]: unknown;
}

export const PROBLEM_CONTENT_TYPE = "application/problem+json";
const TYPE_BASE = "https://accdiff.dev/problems/";

/** `type` is a stable URI derived from the title ("Validation failed" -> .../validation-failed). */
export function problem(
  status: number,
  title: string,
  detail?: string,
  extra: Partial<ProblemDetails> = {},
): ProblemDetails {
  const slug = title
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "");
  return { type: `${TYPE_BASE}${slug}`, title, status, ...(detail !== undefined ? { detail } : {}), ...extra };
}

export function problemResponse(p: ProblemDetails, headers: Record<string, string> | Headers = {}): Response {
  const h = new Headers(headers);
  h.set("content-type", PROBLEM_CONTENT_TYPE);
  return new Response(JSON.stringify(p), { status: p.status, headers: h });
}

export function formatPath(path: readonly PropertyKey[]): string {
  let s = "";
  for (const p of path) {
    if (typeof p === "number") s += `[${p}]`;
    else s += s ? `.${String(p)}` : String(p);
  }
  return s;
}

/** Converts a zod error into a 422 (or given status) problem with one entry per issue. */
export function fromZodError(err: z.ZodError, status = 422, title = "Validation failed"): ProblemDetails {
  const errors: FieldError[] = err.issues.map((i) => {
    const path = formatPath(i.path);
    if (i.code === "unrecognized_keys") {
      return { path, message: `unknown field(s): ${i.keys.join(", ")}` };
    }
    return { path, message: i.message };
  });
  const first = errors[0];
  const detail = first ? `${first.path || "body"}: ${first.message}` : "invalid input";
  return problem(status, title, detail, { errors });
}
