import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  available,
  type Hold,
  type LedgerEntry,
  planCapture,
  planCredit,
  planRelease,
  planReserve,
  type Totals,
} from "./ledger";

const ZERO: Totals = { balance: 0, held: 0, seq: 0 };

/** A tiny in-memory account driven by the pure planners, as the DO drives them over SQLite. */
class Book {
  totals: Totals = ZERO;
  holds = new Map<string, Hold>();
  entries: LedgerEntry[] = [];
  constructor(readonly creditLimit = 0) {}
  private apply(p: { totals: Totals; entry: LedgerEntry; hold?: Hold }) {
    this.totals = p.totals;
    this.entries.push(p.entry);
    if (p.hold) this.holds.set(p.hold.jobId, p.hold);
  }
  credit(n: number) {
    this.apply(planCredit(this.totals, n, null, 1));
  }
  reserve(job: string, n: number) {
    const p = planReserve(this.totals, this.holds.get(job) ?? null, job, n, this.creditLimit, 1);
    if (p.outcome === "reserved") this.apply(p);
    return p.outcome;
  }
  capture(job: string, n: number) {
    const p = planCapture(this.totals, this.holds.get(job) ?? null, n, 2);
    if (p.outcome === "captured") this.apply(p);
    return p.outcome;
  }
  release(job: string) {
    const p = planRelease(this.totals, this.holds.get(job) ?? null, 3);
    if (p.outcome === "released") this.apply(p);
    return p.outcome;
  }
}

describe("ledger planners", () => {
  it("reserve holds, capture charges the actual price and frees the rest", () => {
    const b = new Book();
    b.credit(10_000);
    expect(b.reserve("j1", 4_000)).toBe("reserved");
    expect(b.totals).toEqual({ balance: 10_000, held: 4_000, seq: 2 });
    expect(available(b.totals, 0)).toBe(6_000);
    expect(b.capture("j1", 3_000)).toBe("captured");
    expect(b.totals).toEqual({ balance: 7_000, held: 0, seq: 3 });
    expect(b.holds.get("j1")).toMatchObject({ state: "captured", captured: 3_000, reserved: 4_000 });
  });

  it("refuses a reservation the balance plus credit limit does not cover", () => {
    const b = new Book(500);
    b.credit(1_000);
    expect(b.reserve("a", 1_000)).toBe("reserved");
    expect(b.reserve("b", 501)).toBe("insufficient");
    expect(b.reserve("b", 500)).toBe("reserved");
    const p = planReserve(b.totals, null, "c", 1, 500, 1);
    expect(p).toEqual({ outcome: "insufficient", balance: 1_000, available: 0 });
  });

  it("is idempotent: duplicate reserve/capture/release change nothing", () => {
    const b = new Book();
    b.credit(5_000);
    b.reserve("j", 2_000);
    expect(b.reserve("j", 3_000)).toBe("duplicate");
    b.capture("j", 1_500);
    const snapshot = { ...b.totals };
    expect(b.capture("j", 1_500)).toBe("duplicate");
    expect(b.capture("j", 9)).toBe("duplicate");
    expect(b.release("j")).toBe("captured");
    expect(b.reserve("j", 2_000)).toBe("duplicate");
    expect(b.totals).toEqual(snapshot);
  });

  it("release after release is a no-op and capture after release charges nothing", () => {
    const b = new Book();
    b.credit(5_000);
    b.reserve("j", 2_000);
    expect(b.release("j")).toBe("released");
    expect(b.release("j")).toBe("duplicate");
    expect(b.capture("j", 2_000)).toBe("released");
    expect(b.totals.balance).toBe(5_000);
    expect(b.totals.held).toBe(0);
  });

  it("caps a capture above the hold at the hold and says so", () => {
    const b = new Book();
    b.credit(5_000);
    b.reserve("j", 2_000);
    const p = planCapture(b.totals, b.holds.get("j")!, 2_500, 9);
    expect(p.outcome).toBe("captured");
    if (p.outcome !== "captured") return;
    expect(p.entry.amount).toBe(-2_000);
    expect(p.entry.note).toMatch(/capped/);
  });

  it("unknown jobs cannot be captured or released", () => {
    expect(planCapture(ZERO, null, 1, 0).outcome).toBe("unknown");
    expect(planRelease(ZERO, null, 0).outcome).toBe("unknown");
  });

  it("rejects non-integer, negative and huge amounts", () => {
    expect(() => planReserve(ZERO, null, "j", 1.5, 0, 0)).toThrow(RangeError);
    expect(() => planReserve(ZERO, null, "j", -1, 0, 0)).toThrow(RangeError);
    expect(() => planCredit(ZERO, 0, null, 0)).toThrow(RangeError);
    expect(() => planCredit(ZERO, 2 ** 60, null, 0)).toThrow(RangeError);
  });

  it("property: under any sequence of operations the ledger sums equal the totals", () => {
    const jobs = ["a", "b", "c", "d", "e"];
    const op = fc.oneof(
      fc.record({ t: fc.constant("credit" as const), n: fc.integer({ min: 1, max: 10_000 }) }),
      fc.record({
        t: fc.constant("reserve" as const),
        j: fc.constantFrom(...jobs),
        n: fc.integer({ min: 0, max: 8_000 }),
      }),
      fc.record({
        t: fc.constant("capture" as const),
        j: fc.constantFrom(...jobs),
        n: fc.integer({ min: 0, max: 9_000 }),
      }),
      fc.record({ t: fc.constant("release" as const), j: fc.constantFrom(...jobs) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5_000 }), fc.array(op, { maxLength: 60 }), (limit, ops) => {
        const b = new Book(limit);
        for (const o of ops) {
          if (o.t === "credit") b.credit(o.n);
          else if (o.t === "reserve") b.reserve(o.j, o.n);
          else if (o.t === "capture") b.capture(o.j, o.n);
          else b.release(o.j);
          const sumAmount = b.entries.reduce((s, e) => s + e.amount, 0);
          const sumHeld = b.entries.reduce((s, e) => s + e.held, 0);
          const open = [...b.holds.values()].filter((h) => h.state === "reserved").reduce((s, h) => s + h.reserved, 0);
          expect(sumAmount).toBe(b.totals.balance);
          expect(sumHeld).toBe(b.totals.held);
          expect(open).toBe(b.totals.held);
          // The credit limit is never overdrawn: captures never exceed holds, holds never exceed availability.
          expect(b.totals.balance - b.totals.held).toBeGreaterThanOrEqual(-limit);
          expect(b.entries.map((e) => e.seq)).toEqual(b.entries.map((_, i) => i + 1));
          expect(b.entries.at(-1)?.balance ?? 0).toBe(b.totals.balance);
        }
        // Each job is charged at most once, and never more than it reserved.
        for (const h of b.holds.values()) {
          const charges = b.entries.filter((e) => e.jobId === h.jobId && e.kind === "capture");
          expect(charges.length).toBeLessThanOrEqual(1);
          expect(-(charges[0]?.amount ?? 0)).toBeLessThanOrEqual(h.reserved);
        }
      }),
      { numRuns: 300 },
    );
  });
});
