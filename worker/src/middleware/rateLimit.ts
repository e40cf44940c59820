/**
 * Rate-limit headers (IETF draft "RateLimit header fields": RateLimit-Limit / -Remaining / -Reset) and the 429
 * problem. The token itself is taken by the AccountDO during authentication (see auth.ts), so a limited request
 * costs a single round trip.
 */
import { problem, problemResponse } from "@accdiff/shared";
import type { TokenDecision } from "../accounts/tokenBucket";

export function rateLimitHeaders(d: TokenDecision): Record<string, string> {
  const h: Record<string, string> = {
    "RateLimit-Limit": String(d.limit),
    "RateLimit-Remaining": String(d.remaining),
    "RateLimit-Reset": String(d.resetSeconds),
  };
  if (!d.ok && d.retryAfter !== undefined) h["Retry-After"] = String(d.retryAfter);
  return h;
}

export function tooManyRequests(d: TokenDecision): Response {
  const p = problem(429, "Too many requests", `rate limit of this API key exceeded; retry in ${d.retryAfter ?? 1}s`, {
    retryAfter: d.retryAfter ?? 1,
  });
  return problemResponse(p, rateLimitHeaders(d));
}
