/**
 * Token bucket per API key: a burst of `burst` requests, then `perSecond` sustained. Pure: the AccountDO keeps one
 * bucket per key in memory (a DO restart refills buckets, which at worst grants one extra burst; money is never
 * at stake here, so the bucket is not worth a storage write per request).
 */

export interface RateLimitConfig {
  burst: number;
  perSecond: number;
}

export const DEFAULT_RATE_LIMIT: RateLimitConfig = { burst: 60, perSecond: 10 };

export interface Bucket {
  tokens: number;
  /** Epoch milliseconds of the last refill. */
  updatedAt: number;
}

export interface TokenDecision {
  ok: boolean;
  limit: number;
  /** Whole tokens left after this request. */
  remaining: number;
  /** Seconds until the bucket is full again (RateLimit-Reset). */
  resetSeconds: number;
  /** Seconds to wait before a retry can succeed; only when refused. */
  retryAfter?: number;
}

function positive(value: string | number | undefined | null, fallback: number): number {
  if (value === undefined || value === null || value === "") return fallback;
  const n = typeof value === "number" ? value : Number(value);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

/** Reads RATE_LIMIT_BURST / RATE_LIMIT_PER_SECOND (strings from wrangler vars); bad values fall back to defaults. */
export function rateLimitConfig(
  vars: { RATE_LIMIT_BURST?: string; RATE_LIMIT_PER_SECOND?: string },
  override?: Partial<RateLimitConfig> | null,
): RateLimitConfig {
  const base = {
    burst: Math.floor(positive(vars.RATE_LIMIT_BURST, DEFAULT_RATE_LIMIT.burst)),
    perSecond: positive(vars.RATE_LIMIT_PER_SECOND, DEFAULT_RATE_LIMIT.perSecond),
  };
  return {
    burst: Math.max(1, Math.floor(positive(override?.burst, base.burst))),
    perSecond: positive(override?.perSecond, base.perSecond),
  };
}

/** Takes one token if there is one. Returns the new bucket and the decision (headers and Retry-After). */
export function take(
  bucket: Bucket | undefined,
  cfg: RateLimitConfig,
  now: number,
): { bucket: Bucket; decision: TokenDecision } {
  const prev = bucket ?? { tokens: cfg.burst, updatedAt: now };
  // A clock that steps back (another machine, a test) must not mint or burn tokens.
  const elapsed = Math.max(0, now - prev.updatedAt) / 1000;
  const tokens = Math.min(cfg.burst, prev.tokens + elapsed * cfg.perSecond);
  const ok = tokens >= 1;
  const after = ok ? tokens - 1 : tokens;
  const next: Bucket = { tokens: after, updatedAt: Math.max(now, prev.updatedAt) };
  const decision: TokenDecision = {
    ok,
    limit: cfg.burst,
    remaining: Math.floor(after),
    resetSeconds: Math.ceil((cfg.burst - after) / cfg.perSecond),
  };
  // Retry-After is an integer number of seconds (RFC 9110); round up so that a retry at that time succeeds.
  if (!ok) decision.retryAfter = Math.max(1, Math.ceil((1 - after) / cfg.perSecond));
  return { bucket: next, decision };
}
