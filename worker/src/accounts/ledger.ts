/**
 * The money rules of an account, as pure functions: each plans one movement from the current totals and the job's
 * hold, and returns the new totals plus the immutable ledger entry to append. The AccountDO only persists plans, in
 * one SQLite transaction each, so that these rules are testable without a runtime.
 *
 * Every entry carries two signed deltas:
 * - `amount`: its effect on the balance (credit +, capture -; reserve and release 0),
 * - `held`: its effect on the reserved total (reserve +, capture and release -the whole hold).
 * Hence the invariants the tests check: sum(amount) == balance and sum(held) == sum of open reservations.
 *
 * A job's hold is a small state machine, reserved -> captured | released, both terminal; a second reserve, capture or
 * release of the same job is answered from the hold and changes nothing (retries, duplicated runner events and
 * re-dispatches never charge twice). Amounts are integer microdollars (PRICE_TABLE.unit), never floats.
 */

export type HoldState = "reserved" | "captured" | "released";
export type EntryKind = "credit" | "reserve" | "capture" | "release";

export interface Hold {
  jobId: string;
  state: HoldState;
  /** Amount held at reserve time (the quote). */
  reserved: number;
  /** Amount charged at capture (0 unless captured). */
  captured: number;
  createdAt: number;
  settledAt: number | null;
}

export interface LedgerEntry {
  seq: number;
  /** Epoch milliseconds. */
  at: number;
  kind: EntryKind;
  jobId: string | null;
  /** Effect on the balance. */
  amount: number;
  /** Effect on the reserved total. */
  held: number;
  /** Balance after this entry. */
  balance: number;
  /** Caller's reference of a credit (idempotency) or null. */
  reference: string | null;
  note: string | null;
}

export interface Totals {
  balance: number;
  /** Sum of open reservations. */
  held: number;
  /** Sequence number of the last ledger entry (0 when empty). */
  seq: number;
}

/** Largest amount a single movement may carry: far below 2^53 so that sums stay exact. */
export const MAX_AMOUNT = 1e15;

export function isAmount(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0 && x <= MAX_AMOUNT;
}

function assertAmount(x: number, what: string): void {
  if (!isAmount(x)) throw new RangeError(`${what} must be an integer in [0, ${MAX_AMOUNT}], got ${x}`);
}

/** What a new reservation may still take: the balance plus the credit limit, minus what is already held. */
export function available(t: Totals, creditLimit: number): number {
  return t.balance + creditLimit - t.held;
}

export interface Movement {
  totals: Totals;
  entry: LedgerEntry;
  hold: Hold;
}

function append(
  t: Totals,
  at: number,
  kind: EntryKind,
  jobId: string | null,
  amount: number,
  held: number,
  reference: string | null = null,
  note: string | null = null,
): { totals: Totals; entry: LedgerEntry } {
  const totals = { balance: t.balance + amount, held: t.held + held, seq: t.seq + 1 };
  const entry: LedgerEntry = {
    seq: totals.seq,
    at,
    kind,
    jobId,
    amount,
    held,
    balance: totals.balance,
    reference,
    note,
  };
  return { totals, entry };
}

export type ReservePlan =
  | ({ outcome: "reserved" } & Movement)
  | { outcome: "duplicate"; hold: Hold }
  | { outcome: "insufficient"; balance: number; available: number };

export function planReserve(
  t: Totals,
  existing: Hold | null,
  jobId: string,
  amount: number,
  creditLimit: number,
  now: number,
): ReservePlan {
  assertAmount(amount, "reservation");
  // Idempotent per job id, whatever the state: a replayed accept must not hold a second time, and a job that was
  // settled must not be reopened.
  if (existing) return { outcome: "duplicate", hold: existing };
  const avail = available(t, creditLimit);
  if (amount > avail) return { outcome: "insufficient", balance: t.balance, available: Math.max(0, avail) };
  const { totals, entry } = append(t, now, "reserve", jobId, 0, amount);
  const hold: Hold = { jobId, state: "reserved", reserved: amount, captured: 0, createdAt: now, settledAt: null };
  return { outcome: "reserved", totals, entry, hold };
}

export type CapturePlan =
  | ({ outcome: "captured" } & Movement)
  | { outcome: "duplicate" | "released"; hold: Hold }
  | { outcome: "unknown" };

/**
 * Charges the actual price and releases the rest of the hold. The charge is capped at the reservation: the customer
 * accepted the quote, so a price above it (a bug or a changed table) is absorbed, and noted in the entry.
 */
export function planCapture(t: Totals, hold: Hold | null, amount: number, now: number): CapturePlan {
  assertAmount(amount, "capture");
  if (!hold) return { outcome: "unknown" };
  if (hold.state === "captured") return { outcome: "duplicate", hold };
  if (hold.state === "released") return { outcome: "released", hold };
  const charge = Math.min(amount, hold.reserved);
  const note = amount > hold.reserved ? `capped at reservation (asked ${amount})` : null;
  const { totals, entry } = append(t, now, "capture", hold.jobId, -charge, -hold.reserved, null, note);
  return { outcome: "captured", totals, entry, hold: { ...hold, state: "captured", captured: charge, settledAt: now } };
}

export type ReleasePlan =
  | ({ outcome: "released" } & Movement)
  | { outcome: "duplicate" | "captured"; hold: Hold }
  | { outcome: "unknown" };

/** Frees the whole hold (failure, cancel before any phase). A no-op after capture or a previous release. */
export function planRelease(t: Totals, hold: Hold | null, now: number, note: string | null = null): ReleasePlan {
  if (!hold) return { outcome: "unknown" };
  if (hold.state === "released") return { outcome: "duplicate", hold };
  if (hold.state === "captured") return { outcome: "captured", hold };
  const { totals, entry } = append(t, now, "release", hold.jobId, 0, -hold.reserved, null, note);
  return { outcome: "released", totals, entry, hold: { ...hold, state: "released", settledAt: now } };
}

/** A prepaid top-up. Idempotency per `reference` is the caller's (the DO looks the reference up first). */
export function planCredit(
  t: Totals,
  amount: number,
  reference: string | null,
  now: number,
): { totals: Totals; entry: LedgerEntry } {
  assertAmount(amount, "credit");
  if (amount === 0) throw new RangeError("credit must be positive");
  return append(t, now, "credit", null, amount, 0, reference);
}
