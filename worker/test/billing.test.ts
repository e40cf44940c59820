/** Money under concurrency, retries and failures, against the real AccountDO (SQLite storage, RPC). */

import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { PRICE_TABLE, quote, renderPhases } from "@accdiff/shared";
import { describe, expect, it } from "vitest";
import { type AccountDO, accountStub, capture, credit, release, reserve } from "../src/accounts";
import { audit, fundedAccount, newAccount, testEnv } from "./accountsHelpers";

const PRICE = 25_000;

describe("reservations", () => {
  it("50 concurrent reserves against a balance covering 10 accept exactly 10", async () => {
    const { id } = await fundedAccount(10 * PRICE);
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => reserve(testEnv, id, `job-${i}`, PRICE)));
    const accepted = results.filter((r) => r.ok);
    const refused = results.filter((r) => !r.ok);
    expect(accepted).toHaveLength(10);
    expect(refused).toHaveLength(40);
    for (const r of refused) expect(r).toMatchObject({ ok: false, reason: "insufficient_funds", available: 0 });
    const books = await audit(id);
    expect(books).toMatchObject({ balance: 10 * PRICE, reserved: 10 * PRICE });
    const account = await accountStub(testEnv, id).getAccount();
    expect(account?.available).toBe(0);
  });

  it("retries of the same reserve hold once", async () => {
    const { id } = await fundedAccount(3 * PRICE);
    const results = await Promise.all(Array.from({ length: 20 }, () => reserve(testEnv, id, "same-job", PRICE)));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(results.filter((r) => r.ok && !r.duplicate)).toHaveLength(1);
    expect(await audit(id)).toMatchObject({ balance: 3 * PRICE, reserved: PRICE });
  });

  it("a credit limit lets the balance go that far below zero, not further", async () => {
    const { id } = await fundedAccount(PRICE, { creditLimit: 2 * PRICE });
    expect((await reserve(testEnv, id, "a", 2 * PRICE)).ok).toBe(true);
    expect((await reserve(testEnv, id, "b", PRICE)).ok).toBe(true);
    expect(await reserve(testEnv, id, "c", 1)).toMatchObject({ ok: false, reason: "insufficient_funds" });
    await capture(testEnv, id, "a", 2 * PRICE);
    await capture(testEnv, id, "b", PRICE);
    expect(await audit(id)).toMatchObject({ balance: -2 * PRICE, reserved: 0 });
  });

  it("refuses unknown accounts and bad arguments before any movement", async () => {
    expect(await reserve(testEnv, "0".repeat(24), "j", 1)).toMatchObject({ ok: false, reason: "unknown_account" });
    const { id } = await fundedAccount(PRICE);
    expect(() => reserve(testEnv, id, "j", 1.5)).toThrow(RangeError);
    expect(() => reserve(testEnv, id, "", 1)).toThrow(TypeError);
    expect(() => capture(testEnv, id, "j", -1)).toThrow(RangeError);
  });
});

describe("settlement", () => {
  it("a failed job (reserve then release) leaves the balance as it was", async () => {
    const { id } = await fundedAccount(5 * PRICE);
    expect((await reserve(testEnv, id, "fails", PRICE)).ok).toBe(true);
    expect(await release(testEnv, id, "fails")).toEqual({ ok: true, outcome: "released" });
    expect(await release(testEnv, id, "fails")).toEqual({ ok: true, outcome: "duplicate" });
    // A late success event after the failure charges nothing.
    expect(await capture(testEnv, id, "fails", PRICE)).toEqual({ ok: false, outcome: "released" });
    expect(await audit(id)).toMatchObject({ balance: 5 * PRICE, reserved: 0 });
  });

  it("a duplicate capture (or a storm of them) changes nothing", async () => {
    const { id } = await fundedAccount(5 * PRICE);
    await reserve(testEnv, id, "done", PRICE);
    expect(await capture(testEnv, id, "done", PRICE - 5_000)).toEqual({
      ok: true,
      outcome: "captured",
      charged: PRICE - 5_000,
    });
    const before = await audit(id);
    const again = await Promise.all(Array.from({ length: 20 }, () => capture(testEnv, id, "done", PRICE)));
    for (const r of again) expect(r).toEqual({ ok: true, outcome: "duplicate", charged: PRICE - 5_000 });
    expect(await release(testEnv, id, "done")).toEqual({ ok: true, outcome: "captured" });
    expect(await audit(id)).toEqual(before);
    expect(before.balance).toBe(5 * PRICE - (PRICE - 5_000));
  });

  it("concurrent duplicate success and failure events settle the job exactly once", async () => {
    const { id } = await fundedAccount(5 * PRICE);
    await reserve(testEnv, id, "race", PRICE);
    const captures = Array.from({ length: 15 }, () => capture(testEnv, id, "race", PRICE));
    const releases = Array.from({ length: 15 }, () => release(testEnv, id, "race"));
    const [c, r] = await Promise.all([Promise.all(captures), Promise.all(releases)]);
    // Exactly one event moved money: either one capture charged, or one release freed the hold.
    const charged = c.filter((e) => e.ok && e.outcome === "captured").length;
    const freed = r.filter((e) => e.ok && e.outcome === "released").length;
    expect(charged + freed).toBe(1);
    const books = await audit(id);
    expect(books.balance).toBe(charged ? 4 * PRICE : 5 * PRICE);
    expect(books.reserved).toBe(0);
  });

  it("a cancel after some phases pays for those only and frees the rest", async () => {
    const { id } = await fundedAccount(PRICE);
    const r = { width: 4096, height: 4096, switches: { progressiveUpscaling: true } } as Parameters<
      typeof renderPhases
    >[0];
    const full = quote(renderPhases(r, 1024), []);
    const firstTwo = quote(renderPhases(r, 1024), [], [1, 2]);
    expect(firstTwo.price).toBeLessThan(full.price);
    await credit(testEnv, id, full.price);
    await reserve(testEnv, id, "cancelled", full.price);
    expect(await capture(testEnv, id, "cancelled", firstTwo.price)).toMatchObject({ charged: firstTwo.price });
    expect(await audit(id)).toMatchObject({ balance: PRICE + full.price - firstTwo.price, reserved: 0 });
  });

  it("a cached re-render costs the cache price", async () => {
    const r = { width: 2048, height: 2048, switches: { progressiveUpscaling: true } } as Parameters<
      typeof renderPhases
    >[0];
    const computed = quote(renderPhases(r, 1024), []);
    const phases = computed.lines.map((l) => l.phase);
    const cached = quote(renderPhases(r, 1024), phases);
    const cachedSum = cached.lines.reduce((s, l) => s + Math.ceil(l.megapixels * PRICE_TABLE.perMegapixelCached), 0);
    expect(cached.price).toBe(Math.max(PRICE_TABLE.minimum, cachedSum));
    expect(cached.price).toBeLessThan(computed.price);
    const { id } = await fundedAccount(computed.price + cached.price);
    await reserve(testEnv, id, "first", computed.price);
    await capture(testEnv, id, "first", computed.price);
    await reserve(testEnv, id, "rerender", cached.price);
    await capture(testEnv, id, "rerender", cached.price);
    expect(await audit(id)).toMatchObject({ balance: 0, reserved: 0 });
  });

  it("capture is capped at the hold", async () => {
    const { id } = await fundedAccount(5 * PRICE);
    await reserve(testEnv, id, "capped", PRICE);
    expect(await capture(testEnv, id, "capped", 2 * PRICE)).toMatchObject({ charged: PRICE });
    expect(await audit(id)).toMatchObject({ balance: 4 * PRICE });
    expect(await capture(testEnv, id, "never-reserved", 1)).toEqual({ ok: false, outcome: "unknown" });
  });
});

describe("ledger", () => {
  it("the sum of ledger entries equals the balance after every operation of a random workload", async () => {
    const { id } = await fundedAccount(0, { creditLimit: 50_000 });
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let round = 0; round < 12; round++) {
      const ops = Array.from({ length: 10 }, () => {
        const job = `j${rand(15)}`;
        switch (rand(4)) {
          case 0:
            return credit(testEnv, id, 1 + rand(30_000));
          case 1:
            return reserve(testEnv, id, job, rand(40_000));
          case 2:
            return capture(testEnv, id, job, rand(45_000));
          default:
            return release(testEnv, id, job);
        }
      });
      await Promise.all(ops);
      const books = await audit(id);
      expect(books.balance - books.reserved).toBeGreaterThanOrEqual(-50_000);
    }
  });

  it("entries are immutable and top-ups with a reference are applied once", async () => {
    const id = await newAccount();
    const first = await credit(testEnv, id, 1_000, "invoice-7");
    const again = await credit(testEnv, id, 1_000, "invoice-7");
    expect(first).toMatchObject({ ok: true, duplicate: false, balance: 1_000 });
    expect(again).toMatchObject({ ok: true, duplicate: true, balance: 1_000 });
    expect(await credit(testEnv, id, 2_000, "invoice-7")).toEqual({ ok: false, reason: "reference_conflict" });
    const stub = accountStub(testEnv, id);
    await runInDurableObject(stub as DurableObjectStub<AccountDO>, (_o, state) => {
      expect(() => state.storage.sql.exec("UPDATE ledger SET amount = 1")).toThrow(/immutable/);
      expect(() => state.storage.sql.exec("DELETE FROM ledger")).toThrow(/immutable/);
    });
    expect(await audit(id)).toMatchObject({ balance: 1_000 });
  });
});

describe("daily quota", () => {
  it("refuses jobs over the quota with a Retry-After to midnight UTC; replays do not count", async () => {
    const { id } = await fundedAccount(100 * PRICE, { dailyQuota: 3 });
    for (const j of ["q1", "q2", "q3"]) expect((await reserve(testEnv, id, j, PRICE)).ok).toBe(true);
    expect((await reserve(testEnv, id, "q1", PRICE)).ok).toBe(true);
    const refused = await reserve(testEnv, id, "q4", PRICE);
    expect(refused).toMatchObject({ ok: false, reason: "daily_quota", quota: 3 });
    if (!refused.ok && refused.reason === "daily_quota") {
      expect(refused.retryAfter).toBeGreaterThan(0);
      expect(refused.retryAfter).toBeLessThanOrEqual(86_400);
    }
    expect(await audit(id)).toMatchObject({ reserved: 3 * PRICE });
  });
});

describe("stale holds", () => {
  it("a hold left open past its TTL (a crash between reserve and job creation) is released by the alarm", async () => {
    const { id } = await fundedAccount(3 * PRICE);
    await reserve(testEnv, id, "leaked", PRICE);
    await reserve(testEnv, id, "fresh", PRICE);
    const stub = accountStub(testEnv, id) as DurableObjectStub<AccountDO>;
    await runInDurableObject(stub, (_o, state) => {
      state.storage.sql.exec("UPDATE holds SET created_at = created_at - 2 * 86400000 WHERE job_id = 'leaked'");
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stub.holdOf("leaked")).toMatchObject({ state: "released" });
    expect(await stub.holdOf("fresh")).toMatchObject({ state: "reserved" });
    expect(await audit(id)).toMatchObject({ balance: 3 * PRICE, reserved: PRICE });
    // A late success for the expired job charges nothing; the fresh one is unaffected.
    expect(await capture(testEnv, id, "leaked", PRICE)).toEqual({ ok: false, outcome: "released" });
    const page = await stub.usage({ limit: 1 });
    expect(page?.entries[0]).toMatchObject({
      kind: "release",
      jobId: "leaked",
      note: expect.stringMatching(/expired/),
    });
    // The next sweep waits for the fresh hold's expiry.
    const next = await runInDurableObject(stub, (_o, state) => state.storage.getAlarm());
    expect(next).toBeGreaterThan(Date.now() + 86_000_000);
  });
});
