/**
 * Authentication middleware.
 * - `requireKey`: `Authorization: Bearer <api key>`; sets `c.var.principal`, takes a rate-limit token (429 with
 *   Retry-After when the bucket is empty) and puts the rate-limit headers on every response. Applying it twice on a
 *   path (app-wide and in a sub-app) is harmless: the second one sees the principal and passes.
 * - `requireAdmin`: `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant time; refused when unset.
 */
import { problem, problemResponse } from "@accdiff/shared";
import { createMiddleware } from "hono/factory";
import { authorizeKey } from "../accounts/client";
import { bearerToken, secretsEqual } from "../accounts/keys";
import type { TokenDecision } from "../accounts/tokenBucket";
import type { AccountsBindings, Principal } from "../accounts/types";
import { rateLimitHeaders, tooManyRequests } from "./rateLimit";

export type KeyedEnv = {
  Bindings: AccountsBindings;
  Variables: { principal: Principal; rateLimit: TokenDecision };
};

function unauthorized(detail: string, realm: string): Response {
  return problemResponse(problem(401, "Unauthorized", detail), {
    "WWW-Authenticate": `Bearer realm="${realm}"`,
  });
}

export const requireKey = createMiddleware<KeyedEnv>(async (c, next) => {
  if (c.get("principal")) return next();
  const auth = await authorizeKey(c.env, c.req.header("authorization") ?? null);
  if (!auth.ok) {
    const detail = auth.reason === "revoked" ? "this API key was revoked" : "a valid API key is required";
    return unauthorized(detail, "api");
  }
  if (!auth.rate.ok) return tooManyRequests(auth.rate);
  c.set("principal", auth.principal);
  c.set("rateLimit", auth.rate);
  await next();
  const headers = Object.entries(rateLimitHeaders(auth.rate));
  try {
    for (const [k, v] of headers) c.res.headers.set(k, v);
  } catch {
    // Responses passed through from fetch() have immutable headers: re-wrap (the body is streamed, not copied).
    c.res = new Response(c.res.body, c.res);
    for (const [k, v] of headers) c.res.headers.set(k, v);
  }
});

export const requireAdmin = createMiddleware<{ Bindings: AccountsBindings }>(async (c, next) => {
  const expected = c.env.ADMIN_TOKEN;
  const presented = bearerToken(c.req.header("authorization"));
  // Both branches hash and compare, so a missing token and a wrong one take the same time.
  const ok = await secretsEqual(presented ?? "", expected ?? "");
  if (!expected || !presented || !ok) return unauthorized("a valid admin token is required", "admin");
  return next();
});
