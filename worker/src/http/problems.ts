/** The worker's problem+json responses (RFC 9457), built on shared/problem. */
import { type FieldError, problem, problemResponse } from "@accdiff/shared";

export function problemOf(status: number, title: string, detail?: string, extra: Record<string, unknown> = {}) {
  return problemResponse(problem(status, title, detail, extra));
}

export const notFound = (detail = "no such resource") => problemOf(404, "Not found", detail);
export const badRequest = (detail: string, errors?: FieldError[]) =>
  problemOf(400, "Bad request", detail, errors ? { errors } : {});
export const tooLarge = (limit: number) => problemOf(413, "Payload too large", `the body exceeds ${limit} bytes`);
export const unauthorized = (detail: string) => problemOf(401, "Unauthorized", detail);
export const unsupportedMedia = (detail: string) => problemOf(415, "Unsupported media type", detail);
