/**
 * CORS for web builds of an app, configured per deployment: CORS_ORIGINS is a comma-separated list of origins
 * (`https://app.example`), or `*` for any; unset or empty, no cross-origin access is granted. A preflight (OPTIONS)
 * is answered here, before any route, so it never needs the API key; the actual request still does.
 */
import { cors } from "hono/cors";
import { createMiddleware } from "hono/factory";
import type { Env } from "../env";

const ALLOW_HEADERS = [
  "Authorization",
  "Content-Type",
  "Idempotency-Key",
  "Prefer",
  "Last-Event-ID",
  "Range",
  "If-None-Match",
];
const EXPOSE_HEADERS = [
  "RateLimit-Limit",
  "RateLimit-Remaining",
  "RateLimit-Reset",
  "Retry-After",
  "Location",
  "ETag",
  "Content-Range",
  "Content-Disposition",
  "Preference-Applied",
  "Idempotent-Replayed",
];

export function corsOrigins(env: Pick<Env, "CORS_ORIGINS">): "*" | string[] {
  const list = (env.CORS_ORIGINS ?? "")
    .split(",")
    .map((s) => s.trim().replace(/\/+$/, ""))
    .filter((s) => s.length > 0);
  return list.includes("*") ? "*" : list;
}

export const corsForDeployment = createMiddleware<{ Bindings: Env }>((c, next) => {
  const origins = corsOrigins(c.env);
  return cors({
    origin: (origin) => (origins === "*" ? "*" : origins.includes(origin) ? origin : null),
    allowMethods: ["GET", "POST", "DELETE", "OPTIONS"],
    allowHeaders: ALLOW_HEADERS,
    exposeHeaders: EXPOSE_HEADERS,
    maxAge: 600,
  })(c, next);
});
