/** API keys against the real AccountDO: hashing, several keys, revocation effective at once. */
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { type AccountDO, accountStub, authenticate, authorizeKey } from "../src/accounts";
import { admin, call, newAccount, newKey, testEnv } from "./accountsHelpers";

const bearer = (key: string) => `Bearer ${key}`;

describe("API keys", () => {
  it("authenticate a principal; several keys per account", async () => {
    const id = await newAccount();
    const a = await newKey(id);
    const b = await newKey(id);
    const pa = await authenticate(testEnv, bearer(a.key));
    const pb = await authenticate(testEnv, bearer(b.key));
    expect(pa).toEqual({ accountId: id, keyId: a.prefix.slice(-8), keyPrefix: a.prefix });
    expect(pb?.accountId).toBe(id);
    expect(pb?.keyPrefix).toBe(b.prefix);
  });

  it("are stored only as SHA-256 hashes", async () => {
    const id = await newAccount();
    const { key, prefix } = await newKey(id);
    const secret = key.slice(prefix.length + 1);
    const rows = await runInDurableObject(accountStub(testEnv, id) as DurableObjectStub<AccountDO>, (_o, state) =>
      state.storage.sql.exec("SELECT * FROM api_keys").toArray(),
    );
    expect(rows).toHaveLength(1);
    const dump = JSON.stringify(rows);
    expect(dump).not.toContain(secret);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key)));
    const hex = [...digest].map((x) => x.toString(16).padStart(2, "0")).join("");
    expect(rows[0].hash).toBe(hex);
  });

  it("a revoked key is refused at once, the account's other keys keep working", async () => {
    const id = await newAccount();
    const a = await newKey(id);
    const b = await newKey(id);
    expect((await call("GET", "/v1/usage", { token: a.key })).status).toBe(200);
    expect((await admin("DELETE", `/admin/keys/${a.prefix}`)).status).toBe(204);
    const refused = await call("GET", "/v1/usage", { token: a.key });
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { detail: string }).detail).toMatch(/revoked/);
    expect(await authorizeKey(testEnv, bearer(a.key))).toEqual({ ok: false, reason: "revoked" });
    expect((await call("GET", "/v1/usage", { token: b.key })).status).toBe(200);
  });

  it("revocation racing with requests: nothing is accepted after the revoke returns", async () => {
    const id = await newAccount();
    const { key, prefix } = await newKey(id);
    const before = Array.from({ length: 10 }, () => authenticate(testEnv, bearer(key)));
    await admin("DELETE", `/admin/keys/${prefix}`);
    await Promise.all(before);
    const after = await Promise.all(Array.from({ length: 10 }, () => authenticate(testEnv, bearer(key))));
    expect(after.every((p) => p === null)).toBe(true);
  });

  it("refuses wrong secrets, malformed keys and forged account ids, writing nothing for the latter", async () => {
    const id = await newAccount();
    const { key, prefix } = await newKey(id);
    const flipped = `${key.slice(0, -1)}${key.endsWith("A") ? "B" : "A"}`;
    expect(await authenticate(testEnv, bearer(flipped))).toBeNull();
    expect(await authenticate(testEnv, bearer(prefix))).toBeNull();
    expect(await authenticate(testEnv, key)).toBeNull();
    expect(await authenticate(testEnv, null)).toBeNull();
    const ghost = "a".repeat(24);
    const forged = key.replace(id, ghost);
    expect(await authorizeKey(testEnv, bearer(forged))).toEqual({ ok: false, reason: "unknown_account" });
    const tables = await runInDurableObject(accountStub(testEnv, ghost) as DurableObjectStub<AccountDO>, (_o, s) =>
      s.storage.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'account'").toArray(),
    );
    expect(tables).toEqual([]);
  });
});
