/** GET /v1/usage (balance, reservations, paginated ledger) and its CSV export. */

import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { type AccountDO, accountStub, capture, release, reserve } from "../src/accounts";
import { call, fundedAccount, testEnv } from "./accountsHelpers";

interface Usage {
  id: string;
  balance: number;
  reserved: number;
  available: number;
  currency: string;
  unit: string;
  reservations: { jobId: string; amount: number }[];
  ledger: {
    entries: { seq: number; kind: string; amount: number; jobId: string | null; at: string }[];
    nextCursor: string | null;
  };
}

async function usage(key: string, query = ""): Promise<Usage> {
  const res = await call("GET", `/v1/usage${query}`, { token: key });
  expect(res.status).toBe(200);
  return (await res.json()) as Usage;
}

/** An account with a credit, two captured jobs (one partially), a released one and an open reservation. */
async function busyAccount() {
  const acct = await fundedAccount(100_000);
  await reserve(testEnv, acct.id, "job-a", 30_000);
  await capture(testEnv, acct.id, "job-a", 30_000);
  await reserve(testEnv, acct.id, "job-b", 20_000);
  await capture(testEnv, acct.id, "job-b", 12_000);
  await reserve(testEnv, acct.id, "job-c", 10_000);
  await release(testEnv, acct.id, "job-c");
  await reserve(testEnv, acct.id, "job-d", 5_000);
  return acct;
}

describe("GET /v1/usage", () => {
  it("reports balance, open reservations and the ledger, newest first", async () => {
    const { id, key } = await busyAccount();
    const u = await usage(key);
    expect(u).toMatchObject({ id, balance: 58_000, reserved: 5_000, available: 53_000, currency: "USD" });
    expect(u.unit).toBe("microdollars");
    expect(u.reservations).toEqual([expect.objectContaining({ jobId: "job-d", amount: 5_000 })]);
    expect(u.ledger.entries.map((e) => e.kind)).toEqual([
      "reserve",
      "release",
      "reserve",
      "capture",
      "reserve",
      "capture",
      "reserve",
      "credit",
    ]);
    expect(u.ledger.entries.reduce((s, e) => s + e.amount, 0)).toBe(u.balance);
    expect(u.ledger.nextCursor).toBeNull();
    expect(u.ledger.entries[0].at).toMatch(/^\d{4}-\d{2}-\d{2}T/);
  });

  it("paginates with a cursor, without gaps or repeats", async () => {
    const { key } = await busyAccount();
    const seen: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const u: Usage = await usage(key, `?limit=3${cursor ? `&cursor=${cursor}` : ""}`);
      expect(u.ledger.entries.length).toBeLessThanOrEqual(3);
      seen.push(...u.ledger.entries.map((e) => e.seq));
      cursor = u.ledger.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual([8, 7, 6, 5, 4, 3, 2, 1]);
  });

  it("answers problem+json for bad parameters and missing keys", async () => {
    const { key } = await fundedAccount(1);
    for (const q of ["?limit=0", "?limit=abc", "?limit=1000", "?cursor=-1"]) {
      const res = await call("GET", `/v1/usage${q}`, { token: key });
      expect(res.status).toBe(400);
      expect(res.headers.get("content-type")).toMatch(/problem\+json/);
    }
    const anon = await call("GET", "/v1/usage");
    expect(anon.status).toBe(401);
    expect(anon.headers.get("content-type")).toMatch(/problem\+json/);
  });

  it("sees only the calling key's account", async () => {
    const a = await fundedAccount(1_000);
    const b = await fundedAccount(2_000);
    expect((await usage(a.key)).balance).toBe(1_000);
    expect((await usage(b.key)).balance).toBe(2_000);
  });
});

describe("GET /v1/usage/export", () => {
  it("exports the whole ledger as CSV, oldest first, summing to the balance", async () => {
    const { id, key } = await busyAccount();
    const res = await call("GET", "/v1/usage/export", { token: key });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/csv/);
    expect(res.headers.get("content-disposition")).toContain(`usage-${id}`);
    const lines = (await res.text()).split("\r\n").filter(Boolean);
    const header = lines[0].split(",");
    expect(header.slice(0, 7)).toEqual(["seq", "at", "kind", "job_id", "amount", "held", "balance"]);
    const rows = lines.slice(1).map((l) => l.split(","));
    expect(rows.map((r) => Number(r[0]))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(rows.reduce((s, r) => s + Number(r[4]), 0)).toBe(58_000);
    expect(rows.at(-1)?.[6]).toBe("58000");
    expect(rows[2]).toEqual(expect.arrayContaining(["capture", "job-a", "-30000", "-0.030000"]));
  });

  it("streams long ledgers across pages and filters by date", async () => {
    const { key, id } = await fundedAccount(0);
    // Seeded inside the object (one RPC per entry would dominate the test's time).
    await runInDurableObject(accountStub(testEnv, id) as DurableObjectStub<AccountDO>, (o) => {
      for (let i = 0; i < 1_205; i++) o.credit(1 + i);
    });
    const res = await call("GET", "/v1/usage/export", { token: key });
    const rows = (await res.text()).split("\r\n").filter(Boolean).slice(1);
    expect(rows).toHaveLength(1_205);
    expect(new Set(rows.map((r) => r.split(",")[0])).size).toBe(1_205);
    const future = await call("GET", "/v1/usage/export?from=2999-01-01", { token: key });
    expect((await future.text()).split("\r\n").filter(Boolean)).toHaveLength(1);
    const past = await call("GET", "/v1/usage/export?to=2000-01-01T00:00:00Z", { token: key });
    expect((await past.text()).split("\r\n").filter(Boolean)).toHaveLength(1);
    const bad = await call("GET", "/v1/usage/export?from=yesterday", { token: key });
    expect(bad.status).toBe(400);
    expect(bad.headers.get("content-type")).toMatch(/problem\+json/);
  });
});
