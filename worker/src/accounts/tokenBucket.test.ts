import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Bucket, DEFAULT_RATE_LIMIT, rateLimitConfig, take } from "./tokenBucket";

describe("token bucket", () => {
  it("grants a burst, then refuses with Retry-After, then refills at the sustained rate", () => {
    const cfg = { burst: 60, perSecond: 10 };
    let bucket: Bucket | undefined;
    for (let i = 0; i < 60; i++) {
      const r = take(bucket, cfg, 1_000);
      bucket = r.bucket;
      expect(r.decision.ok).toBe(true);
      expect(r.decision.remaining).toBe(59 - i);
    }
    const refused = take(bucket, cfg, 1_000);
    expect(refused.decision).toMatchObject({ ok: false, limit: 60, remaining: 0, retryAfter: 1, resetSeconds: 6 });
    // 100 ms later one token (10/s) is back.
    const later = take(refused.bucket, cfg, 1_100);
    expect(later.decision.ok).toBe(true);
    expect(take(later.bucket, cfg, 1_100).decision.ok).toBe(false);
  });

  it("Retry-After is long enough for a slow refill", () => {
    const cfg = { burst: 1, perSecond: 0.25 };
    const first = take(undefined, cfg, 0);
    const refused = take(first.bucket, cfg, 0);
    expect(refused.decision.retryAfter).toBe(4);
    expect(take(refused.bucket, cfg, 4_000).decision.ok).toBe(true);
  });

  it("never exceeds the burst and ignores clocks that step back", () => {
    const cfg = { burst: 5, perSecond: 1 };
    const idle = take({ tokens: 2, updatedAt: 0 }, cfg, 3_600_000);
    expect(idle.decision.remaining).toBe(4);
    const back = take({ tokens: 0.5, updatedAt: 10_000 }, cfg, 0);
    expect(back.decision.ok).toBe(false);
    expect(back.bucket.updatedAt).toBe(10_000);
  });

  it("property: over a window of T seconds at most burst + T*rate requests pass", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.integer({ min: 0, max: 500 }), { minLength: 1, maxLength: 200 }),
        (burst, perSecond, gaps) => {
          let bucket: Bucket | undefined;
          let now = 0;
          let passed = 0;
          for (const g of gaps) {
            now += g;
            const r = take(bucket, { burst, perSecond }, now);
            bucket = r.bucket;
            if (r.decision.ok) passed++;
            expect(r.decision.remaining).toBeGreaterThanOrEqual(0);
            expect(r.decision.remaining).toBeLessThanOrEqual(burst - 1);
          }
          expect(passed).toBeLessThanOrEqual(burst + Math.floor((now / 1000) * perSecond) + 1);
        },
      ),
    );
  });

  it("reads its configuration from vars, with per-account overrides and safe fallbacks", () => {
    expect(rateLimitConfig({})).toEqual(DEFAULT_RATE_LIMIT);
    expect(rateLimitConfig({ RATE_LIMIT_BURST: "5", RATE_LIMIT_PER_SECOND: "0.5" })).toEqual({
      burst: 5,
      perSecond: 0.5,
    });
    expect(rateLimitConfig({ RATE_LIMIT_BURST: "abc", RATE_LIMIT_PER_SECOND: "-1" })).toEqual(DEFAULT_RATE_LIMIT);
    expect(rateLimitConfig({ RATE_LIMIT_BURST: "5" }, { burst: 2 })).toEqual({ burst: 2, perSecond: 10 });
  });
});
