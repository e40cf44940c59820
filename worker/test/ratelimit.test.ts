/** Token bucket per API key through the auth middleware: headers, 429 with Retry-After, per-key buckets. */
import { describe, expect, it } from "vitest";
import { admin, call, fundedAccount, newKey } from "./accountsHelpers";

describe("rate limits", () => {
  it("sets RateLimit headers and answers 429 with Retry-After once the burst is spent", async () => {
    const { id, key } = await fundedAccount(0);
    // A slow refill (one token per 100 s) makes the test independent of how fast the runtime is.
    await admin("POST", `/admin/accounts/${id}/limit`, { rateLimit: { burst: 5, perSecond: 0.01 } });
    for (let i = 0; i < 5; i++) {
      const res = await call("GET", "/v1/usage", { token: key });
      expect(res.status).toBe(200);
      expect(res.headers.get("ratelimit-limit")).toBe("5");
      expect(res.headers.get("ratelimit-remaining")).toBe(String(4 - i));
      expect(Number(res.headers.get("ratelimit-reset"))).toBeGreaterThan(0);
    }
    const limited = await call("GET", "/v1/usage", { token: key });
    expect(limited.status).toBe(429);
    expect(limited.headers.get("content-type")).toMatch(/problem\+json/);
    expect(Number(limited.headers.get("retry-after"))).toBe(100);
    expect(limited.headers.get("ratelimit-remaining")).toBe("0");
    expect(await limited.json()).toMatchObject({ status: 429, retryAfter: 100 });
  });

  it("buckets are per key", async () => {
    const { id, key } = await fundedAccount(0, { rateLimit: { burst: 2, perSecond: 0.01 } });
    const other = await newKey(id);
    await call("GET", "/v1/usage", { token: key });
    await call("GET", "/v1/usage", { token: key });
    expect((await call("GET", "/v1/usage", { token: key })).status).toBe(429);
    expect((await call("GET", "/v1/usage", { token: other.key })).status).toBe(200);
  });

  it("the default bucket (burst 60, 10/s) lets a burst through, then limits", async () => {
    const { key } = await fundedAccount(0);
    const t0 = Date.now();
    const results = await Promise.all(
      Array.from({ length: 100 }, () => call("GET", "/v1/usage", { token: key }).then((r) => r.status)),
    );
    const elapsed = (Date.now() - t0) / 1000;
    const passed = results.filter((s) => s === 200).length;
    expect(results.filter((s) => s !== 200 && s !== 429)).toEqual([]);
    expect(passed).toBeGreaterThanOrEqual(60);
    expect(passed).toBeLessThanOrEqual(60 + Math.ceil(elapsed * 10) + 1);
    expect(results).toContain(429);
  });

  it("invalid keys are refused before any bucket is touched", async () => {
    const res = await call("GET", "/v1/usage", { token: "acd_not_a_key" });
    expect(res.status).toBe(401);
    expect(res.headers.get("ratelimit-limit")).toBeNull();
  });
});
