/**
 * Runner traffic (events, artifact uploads) must be signed. The full check needs the body's hash, so it comes after
 * the body was read or streamed; this middleware first refuses, before a single body byte is read, any request whose
 * signature headers are missing, malformed or outside the time window, so an unsigned 50 MB upload costs nothing.
 */
import { checkSignatureHeaders } from "@accdiff/shared";
import type { MiddlewareHandler } from "hono";
import { unauthorized } from "../http/problems";
import type { AppEnv } from "../middleware/context";

export const runnerSignatureHeaders: MiddlewareHandler<AppEnv> = async (c, next) => {
  const check = checkSignatureHeaders(c.req.raw.headers);
  if (!check.ok) return unauthorized(check.reason);
  await next();
};
