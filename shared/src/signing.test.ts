import { describe, expect, it } from "vitest";
import { memoryReplayGuard, signRequest, timingSafeEqual, toHex, verifyRequest } from "./signing";

const secret = "s3cret-for-tests";
const req = { method: "POST", path: "/v1/jobs", body: '{"jobId":"abcdefgh"}' };

describe("signing", () => {
  it("verifies its own signatures", async () => {
    const headers = await signRequest(secret, req);
    expect(await verifyRequest(secret, { ...req, headers })).toMatchObject({ ok: true });
    // Headers objects work too, and header names are case-insensitive.
    expect((await verifyRequest(secret, { ...req, headers: new Headers(headers) })).ok).toBe(true);
  });

  it.each([
    ["another secret", { secret: "other" }],
    ["another body", { body: '{"jobId":"abcdefgi"}' }],
    ["another path", { path: "/v1/jobs/x/cancel" }],
    ["another method", { method: "PUT" }],
  ])("refuses a forgery: %s", async (_, change) => {
    const headers = await signRequest(secret, req);
    const c = change as Partial<typeof req> & { secret?: string };
    const r = await verifyRequest(c.secret ?? secret, { ...req, ...c, headers });
    expect(r).toEqual({ ok: false, reason: "signature mismatch" });
  });

  it("refuses expired and future timestamps (5-minute window)", async () => {
    const now = 1_800_000_000_000;
    const old = await signRequest(secret, req, { now: now - 301_000 });
    expect(await verifyRequest(secret, { ...req, headers: old }, { now })).toEqual({
      ok: false,
      reason: "timestamp outside the allowed window",
    });
    const future = await signRequest(secret, req, { now: now + 301_000 });
    expect((await verifyRequest(secret, { ...req, headers: future }, { now })).ok).toBe(false);
    const fine = await signRequest(secret, req, { now: now - 299_000 });
    expect((await verifyRequest(secret, { ...req, headers: fine }, { now })).ok).toBe(true);
  });

  it("refuses a replayed nonce", async () => {
    const seen = memoryReplayGuard();
    const headers = await signRequest(secret, req);
    expect((await verifyRequest(secret, { ...req, headers }, { seen })).ok).toBe(true);
    expect(await verifyRequest(secret, { ...req, headers }, { seen })).toEqual({
      ok: false,
      reason: "replayed request",
    });
  });

  it("refuses missing or malformed headers without throwing", async () => {
    const headers = await signRequest(secret, req);
    expect((await verifyRequest(secret, { ...req, headers: {} })).ok).toBe(false);
    for (const [k, v] of [
      ["x-accdiff-timestamp", "soon"],
      ["x-accdiff-nonce", "../../"],
      ["x-accdiff-signature", "v1=zz"],
      ["x-accdiff-signature", `v2=${"0".repeat(64)}`],
    ]) {
      expect((await verifyRequest(secret, { ...req, headers: { ...headers, [k]: v } })).ok).toBe(false);
    }
    expect((await verifyRequest("", { ...req, headers })).ok).toBe(false);
  });

  it("signs binary bodies byte-exactly", async () => {
    const body = new Uint8Array([0, 255, 1, 2]);
    const headers = await signRequest(secret, { method: "PUT", path: "/u", body });
    expect((await verifyRequest(secret, { method: "PUT", path: "/u", body: body.buffer, headers })).ok).toBe(true);
    expect(
      (await verifyRequest(secret, { method: "PUT", path: "/u", body: new Uint8Array([0, 255, 1, 3]), headers })).ok,
    ).toBe(false);
  });

  it("verifies against the body's digest when the body was streamed elsewhere", async () => {
    const body = new Uint8Array(70_000).map((_, i) => (i * 31) & 255);
    const put = { method: "PUT", path: "/internal/jobs/x/attempts/1/artifacts/tokens/t.json", body };
    const headers = await signRequest(secret, put);
    const digest = toHex(await crypto.subtle.digest("SHA-256", body));
    const byDigest = { method: put.method, path: put.path, headers };
    expect(await verifyRequest(secret, { ...byDigest, bodySha256: digest })).toMatchObject({ ok: true });
    const other = `${digest.slice(0, 63)}${digest[63] === "0" ? "1" : "0"}`;
    expect(await verifyRequest(secret, { ...byDigest, bodySha256: other })).toEqual({
      ok: false,
      reason: "signature mismatch",
    });
    expect((await verifyRequest(secret, { ...byDigest, bodySha256: digest.toUpperCase() })).ok).toBe(false);
    expect((await verifyRequest(secret, { ...put, headers, bodySha256: digest })).ok).toBe(false);
  });

  it("timingSafeEqual compares exactly", () => {
    expect(timingSafeEqual("abc", "abc")).toBe(true);
    expect(timingSafeEqual("abc", "abd")).toBe(false);
    expect(timingSafeEqual("abc", "abcd")).toBe(false);
    expect(timingSafeEqual("", "")).toBe(true);
  });
});
