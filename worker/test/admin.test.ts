/** The admin API over HTTP: authorisation, accounts, keys, credits and terms. */
import { describe, expect, it } from "vitest";
import { ADMIN_TOKEN, admin, call, newAccount, newKey, testEnv } from "./accountsHelpers";

async function expectProblem(res: Response, status: number) {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
  const body = (await res.json()) as { status: number; title: string; type: string };
  expect(body.status).toBe(status);
  expect(body.type).toMatch(/^https:\/\//);
  return body;
}

describe("admin authorisation", () => {
  it("refuses requests without a token, with a wrong one, or with another scheme", async () => {
    await expectProblem(await call("POST", "/admin/accounts"), 401);
    await expectProblem(await call("POST", "/admin/accounts", { token: "wrong-token" }), 401);
    await expectProblem(await call("POST", "/admin/accounts", { token: `${ADMIN_TOKEN}x` }), 401);
    await expectProblem(await call("POST", "/admin/accounts", { token: ADMIN_TOKEN.slice(0, -1) }), 401);
    const basic = await call("POST", "/admin/accounts", { headers: { authorization: `Basic ${ADMIN_TOKEN}` } });
    await expectProblem(basic, 401);
    expect(basic.headers.get("www-authenticate")).toMatch(/^Bearer/);
  });

  it("refuses everything when no admin token is configured", async () => {
    const env = { ...testEnv, ADMIN_TOKEN: "" };
    await expectProblem(await call("POST", "/admin/accounts", { token: "", env }), 401);
    await expectProblem(await call("POST", "/admin/accounts", { token: "anything", env }), 401);
  });

  it("an API key is not an admin token", async () => {
    const id = await newAccount();
    const { key } = await newKey(id);
    await expectProblem(await call("POST", "/admin/accounts", { token: key }), 401);
  });
});

describe("accounts and keys", () => {
  it("creates an account and shows a key once; listings show prefixes only", async () => {
    const res = await admin("POST", "/admin/accounts", { name: "Mobile app", creditLimit: 5_000 });
    expect(res.status).toBe(201);
    const account = (await res.json()) as { id: string; balance: number; creditLimit: number; available: number };
    expect(account).toMatchObject({ balance: 0, creditLimit: 5_000, available: 5_000 });
    expect(account.id).toMatch(/^[0-9a-f]{24}$/);

    const k1 = await admin("POST", `/admin/accounts/${account.id}/keys`, { name: "ios" });
    expect(k1.status).toBe(201);
    expect(k1.headers.get("cache-control")).toBe("no-store");
    const { key, prefix } = (await k1.json()) as { key: string; prefix: string };
    expect(key.startsWith(`${prefix}_`)).toBe(true);
    const k2 = await newKey(account.id);
    expect(k2.key).not.toBe(key);

    const list = await admin("GET", `/admin/accounts/${account.id}/keys`);
    const text = await list.text();
    expect(text).not.toContain(key);
    expect(text).not.toContain(key.slice(prefix.length + 1));
    const { keys } = JSON.parse(text) as { keys: { prefix: string; name: string | null; revokedAt: null }[] };
    expect(keys.map((k) => k.prefix).sort()).toEqual([prefix, k2.prefix].sort());
    expect(keys.find((k) => k.prefix === prefix)?.name).toBe("ios");
  });

  it("revokes a key by prefix; unknown prefixes are 404", async () => {
    const id = await newAccount();
    const { prefix } = await newKey(id);
    expect((await admin("DELETE", `/admin/keys/${prefix}`)).status).toBe(204);
    expect((await admin("DELETE", `/admin/keys/${prefix}`)).status).toBe(204);
    const { keys } = (await (await admin("GET", `/admin/accounts/${id}/keys`)).json()) as {
      keys: { revokedAt: string | null }[];
    };
    expect(keys[0].revokedAt).toMatch(/^\d{4}-/);
    const other = `${prefix.slice(0, -1)}${prefix.endsWith("0") ? "1" : "0"}`;
    await expectProblem(await admin("DELETE", `/admin/keys/${other}`), 404);
    await expectProblem(await admin("DELETE", "/admin/keys/not-a-prefix"), 404);
  });

  it("404s for accounts that do not exist", async () => {
    const ghost = "f".repeat(24);
    await expectProblem(await admin("POST", `/admin/accounts/${ghost}/keys`), 404);
    await expectProblem(await admin("POST", `/admin/accounts/${ghost}/credit`, { amount: 5 }), 404);
    await expectProblem(await admin("GET", `/admin/accounts/${ghost}`), 404);
    await expectProblem(await admin("GET", "/admin/accounts/nope"), 404);
  });
});

describe("credits and terms", () => {
  it("credits integer amounts and refuses anything else with problem+json", async () => {
    const id = await newAccount();
    const ok = await admin("POST", `/admin/accounts/${id}/credit`, { amount: 1_500_000 });
    expect(ok.status).toBe(201);
    expect(await ok.json()).toMatchObject({ balance: 1_500_000, entry: { kind: "credit", amount: 1_500_000 } });
    for (const bad of [{ amount: 1.5 }, { amount: -3 }, { amount: 0 }, { amount: "10" }, {}, { amount: 1, x: 1 }]) {
      const p = await expectProblem(await admin("POST", `/admin/accounts/${id}/credit`, bad), 422);
      expect((p as unknown as { errors: unknown[] }).errors.length).toBeGreaterThan(0);
    }
    await expectProblem(await admin("POST", `/admin/accounts/${id}/credit`, "{not json"), 400);
    const typed = await call("POST", `/admin/accounts/${id}/credit`, {
      token: ADMIN_TOKEN,
      body: "amount=5",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    await expectProblem(typed, 415);
    const big = await admin("POST", `/admin/accounts/${id}/credit`, { amount: 1, reference: "x".repeat(20_000) });
    await expectProblem(big, 413);
    const account = (await (await admin("GET", `/admin/accounts/${id}`)).json()) as { balance: number };
    expect(account.balance).toBe(1_500_000);
  });

  it("an Idempotency-Key makes a top-up safe to retry", async () => {
    const id = await newAccount();
    const send = () =>
      call("POST", `/admin/accounts/${id}/credit`, {
        token: ADMIN_TOKEN,
        body: { amount: 7_000 },
        headers: { "idempotency-key": "topup-42" },
      });
    expect((await send()).status).toBe(201);
    const again = await send();
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ duplicate: true, balance: 7_000 });
  });

  it("sets the credit limit, daily quota and rate limit of an account", async () => {
    const id = await newAccount();
    const res = await admin("POST", `/admin/accounts/${id}/limit`, {
      creditLimit: 9_000,
      dailyQuota: 100,
      rateLimit: { burst: 5, perSecond: 2 },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      creditLimit: 9_000,
      available: 9_000,
      dailyQuota: 100,
      rateLimit: { burst: 5, perSecond: 2 },
    });
    const back = await admin("POST", `/admin/accounts/${id}/limit`, { dailyQuota: null, rateLimit: { burst: null } });
    expect(await back.json()).toMatchObject({ creditLimit: 9_000, dailyQuota: null, rateLimit: { perSecond: 2 } });
    await expectProblem(await admin("POST", `/admin/accounts/${id}/limit`, { creditLimit: -1 }), 422);
  });
});
