import { describe, expect, it } from "vitest";
import {
  bearerToken,
  constantTimeEqual,
  generateAccountId,
  generateApiKey,
  hashApiKey,
  parseApiKey,
  parseKeyPrefix,
  SECRET_BYTES,
  secretsEqual,
} from "./keys";

describe("API keys", () => {
  it("carry 32 random bytes, parse back to their account and prefix, and differ every time", () => {
    const id = generateAccountId();
    const a = generateApiKey(id);
    const b = generateApiKey(id);
    expect(a.key).not.toBe(b.key);
    const secret = a.key.slice(a.prefix.length + 1);
    expect(secret).toHaveLength(Math.ceil((SECRET_BYTES * 8) / 6));
    expect(parseApiKey(a.key)).toEqual({ accountId: id, keyId: a.keyId, prefix: a.prefix });
    expect(parseKeyPrefix(a.prefix)).toEqual({ accountId: id, keyId: a.keyId, prefix: a.prefix });
    expect(a.key.startsWith(`acd_${id}_`)).toBe(true);
  });

  it("rejects malformed keys and prefixes", () => {
    const k = generateApiKey(generateAccountId());
    for (const bad of ["", "acd_", k.prefix, `${k.key}x`, k.key.replace("acd_", "sk_"), `${k.key.slice(0, -1)}!`]) {
      expect(parseApiKey(bad)).toBeNull();
    }
    expect(parseKeyPrefix(k.key)).toBeNull();
    expect(() => generateApiKey("not-an-id")).toThrow();
  });

  it("hashes to SHA-256 hex, never the key itself", async () => {
    const k = generateApiKey(generateAccountId());
    const h = await hashApiKey(k.key);
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(h).not.toContain(k.prefix);
    expect(await hashApiKey(k.key)).toBe(h);
  });

  it("parses Bearer tokens", () => {
    expect(bearerToken("Bearer abc")).toBe("abc");
    expect(bearerToken("bearer   abc ")).toBe("abc");
    expect(bearerToken("Basic abc")).toBeNull();
    expect(bearerToken("Bearer a b")).toBeNull();
    expect(bearerToken(null)).toBeNull();
  });

  it("compares secrets by digest", async () => {
    expect(constantTimeEqual("abcd", "abcd")).toBe(true);
    expect(constantTimeEqual("abcd", "abce")).toBe(false);
    expect(constantTimeEqual("abc", "abcd")).toBe(false);
    expect(await secretsEqual("s3cret", "s3cret")).toBe(true);
    expect(await secretsEqual("s3cret", "s3cret ")).toBe(false);
    expect(await secretsEqual("", "s3cret")).toBe(false);
  });
});
