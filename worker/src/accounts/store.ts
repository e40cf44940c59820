/**
 * The SQLite tables of one AccountDO and typed accessors. Synchronous (the DO's SQLite API): a movement is planned by
 * ledger.ts and written here inside one `transactionSync`, so no other request can interleave with it.
 *
 * Ledger rows are immutable: triggers abort any UPDATE or DELETE on them.
 */
import type { EntryKind, Hold, HoldState, LedgerEntry, Totals } from "./ledger";

export interface AccountRecord {
  id: string;
  name: string | null;
  createdAt: number;
  /** How far below zero the balance may go (postpaid accounts); 0 for prepaid. */
  creditLimit: number;
  /** Jobs per UTC day; null: the DEFAULT_DAILY_QUOTA var, or none. */
  dailyQuota: number | null;
  /** Per-account overrides of the rate limit; null: the RATE_LIMIT_* vars. */
  rateBurst: number | null;
  ratePerSecond: number | null;
}

export interface KeyRecord {
  keyId: string;
  prefix: string;
  name: string | null;
  createdAt: number;
  revokedAt: number | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS account (
  id TEXT PRIMARY KEY, name TEXT, created_at INTEGER NOT NULL,
  credit_limit INTEGER NOT NULL DEFAULT 0, daily_quota INTEGER, rate_burst INTEGER, rate_per_second REAL,
  balance INTEGER NOT NULL DEFAULT 0, held INTEGER NOT NULL DEFAULT 0, seq INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS api_keys (
  key_id TEXT PRIMARY KEY, prefix TEXT NOT NULL, hash TEXT NOT NULL, name TEXT,
  created_at INTEGER NOT NULL, revoked_at INTEGER
);
CREATE TABLE IF NOT EXISTS holds (
  job_id TEXT PRIMARY KEY, state TEXT NOT NULL, reserved INTEGER NOT NULL, captured INTEGER NOT NULL,
  created_at INTEGER NOT NULL, settled_at INTEGER
);
CREATE INDEX IF NOT EXISTS holds_by_state ON holds(state, created_at);
CREATE INDEX IF NOT EXISTS holds_by_created ON holds(created_at, job_id);
CREATE TABLE IF NOT EXISTS ledger (
  seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, kind TEXT NOT NULL, job_id TEXT,
  amount INTEGER NOT NULL, held INTEGER NOT NULL, balance INTEGER NOT NULL, reference TEXT, note TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS ledger_reference ON ledger(reference) WHERE reference IS NOT NULL;
CREATE TRIGGER IF NOT EXISTS ledger_no_update BEFORE UPDATE ON ledger
  BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END;
CREATE TRIGGER IF NOT EXISTS ledger_no_delete BEFORE DELETE ON ledger
  BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END;
CREATE TABLE IF NOT EXISTS daily_usage (day TEXT PRIMARY KEY, jobs INTEGER NOT NULL);
`;

type Row = Record<string, SqlStorageValue>;

const num = (v: SqlStorageValue): number => v as number;
const numOrNull = (v: SqlStorageValue): number | null => (v === null ? null : (v as number));
const strOrNull = (v: SqlStorageValue): string | null => (v === null ? null : (v as string));

function toHold(r: Row): Hold {
  return {
    jobId: r.job_id as string,
    state: r.state as HoldState,
    reserved: num(r.reserved),
    captured: num(r.captured),
    createdAt: num(r.created_at),
    settledAt: numOrNull(r.settled_at),
  };
}

function toEntry(r: Row): LedgerEntry {
  return {
    seq: num(r.seq),
    at: num(r.at),
    kind: r.kind as EntryKind,
    jobId: strOrNull(r.job_id),
    amount: num(r.amount),
    held: num(r.held),
    balance: num(r.balance),
    reference: strOrNull(r.reference),
    note: strOrNull(r.note),
  };
}

export interface EntryQuery {
  /** Newest first, entries with seq < before (usage pages). */
  before?: number;
  /** Oldest first, entries with seq > after (export). */
  after?: number;
  /** Epoch ms bounds on `at`, inclusive from, exclusive to. */
  from?: number;
  to?: number;
  limit: number;
}

export class AccountStore {
  constructor(private readonly sql: SqlStorage) {}

  /** Whether this object holds an account. Checked without creating tables, so that forged ids write nothing. */
  exists(): boolean {
    const table = this.sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'account'").toArray();
    return table.length > 0 && this.sql.exec("SELECT 1 FROM account").toArray().length > 0;
  }

  insertAccount(a: AccountRecord): void {
    this.sql.exec(SCHEMA);
    this.sql.exec(
      "INSERT INTO account (id, name, created_at, credit_limit, daily_quota, rate_burst, rate_per_second) VALUES (?, ?, ?, ?, ?, ?, ?)",
      a.id,
      a.name,
      a.createdAt,
      a.creditLimit,
      a.dailyQuota,
      a.rateBurst,
      a.ratePerSecond,
    );
  }

  account(): AccountRecord {
    const r = this.sql.exec("SELECT * FROM account").one();
    return {
      id: r.id as string,
      name: strOrNull(r.name),
      createdAt: num(r.created_at),
      creditLimit: num(r.credit_limit),
      dailyQuota: numOrNull(r.daily_quota),
      rateBurst: numOrNull(r.rate_burst),
      ratePerSecond: numOrNull(r.rate_per_second),
    };
  }

  updateTerms(t: Pick<AccountRecord, "creditLimit" | "dailyQuota" | "rateBurst" | "ratePerSecond">): void {
    this.sql.exec(
      "UPDATE account SET credit_limit = ?, daily_quota = ?, rate_burst = ?, rate_per_second = ?",
      t.creditLimit,
      t.dailyQuota,
      t.rateBurst,
      t.ratePerSecond,
    );
  }

  totals(): Totals {
    const r = this.sql.exec("SELECT balance, held, seq FROM account").one();
    return { balance: num(r.balance), held: num(r.held), seq: num(r.seq) };
  }

  /** Appends an entry and moves the totals with it (callers wrap this in transactionSync with the hold write). */
  append(entry: LedgerEntry, totals: Totals): void {
    this.sql.exec(
      "INSERT INTO ledger (seq, at, kind, job_id, amount, held, balance, reference, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
      entry.seq,
      entry.at,
      entry.kind,
      entry.jobId,
      entry.amount,
      entry.held,
      entry.balance,
      entry.reference,
      entry.note,
    );
    this.sql.exec("UPDATE account SET balance = ?, held = ?, seq = ?", totals.balance, totals.held, totals.seq);
  }

  hold(jobId: string): Hold | null {
    const rows = this.sql.exec("SELECT * FROM holds WHERE job_id = ?", jobId).toArray();
    return rows.length ? toHold(rows[0]) : null;
  }

  putHold(h: Hold): void {
    this.sql.exec(
      "INSERT OR REPLACE INTO holds (job_id, state, reserved, captured, created_at, settled_at) VALUES (?, ?, ?, ?, ?, ?)",
      h.jobId,
      h.state,
      h.reserved,
      h.captured,
      h.createdAt,
      h.settledAt,
    );
  }

  /**
   * The account's jobs, newest first: every accepted job has exactly one hold, made when it was accepted, so the
   * holds are the account's job index. `before` is the (created_at, job_id) of the last job of the previous page.
   */
  jobsBefore(before: { at: number; jobId: string } | null, limit: number): { jobId: string; at: number }[] {
    const rows = before
      ? this.sql.exec(
          "SELECT job_id, created_at FROM holds WHERE created_at < ? OR (created_at = ? AND job_id < ?) ORDER BY created_at DESC, job_id DESC LIMIT ?",
          before.at,
          before.at,
          before.jobId,
          limit,
        )
      : this.sql.exec("SELECT job_id, created_at FROM holds ORDER BY created_at DESC, job_id DESC LIMIT ?", limit);
    return rows.toArray().map((r) => ({ jobId: r.job_id as string, at: num(r.created_at) }));
  }

  openHolds(limit: number): Hold[] {
    return this.sql
      .exec("SELECT * FROM holds WHERE state = 'reserved' ORDER BY created_at, job_id LIMIT ?", limit)
      .toArray()
      .map(toHold);
  }

  creditByReference(reference: string): LedgerEntry | null {
    const rows = this.sql.exec("SELECT * FROM ledger WHERE reference = ?", reference).toArray();
    return rows.length ? toEntry(rows[0]) : null;
  }

  entries(q: EntryQuery): LedgerEntry[] {
    const where: string[] = [];
    const args: SqlStorageValue[] = [];
    const filter = (clause: string, value: number | undefined) => {
      if (value === undefined) return;
      where.push(clause);
      args.push(value);
    };
    filter("seq < ?", q.before);
    filter("seq > ?", q.after);
    filter("at >= ?", q.from);
    filter("at < ?", q.to);
    const order = q.after !== undefined ? "ASC" : "DESC";
    const sql = `SELECT * FROM ledger ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq ${order} LIMIT ?`;
    return this.sql
      .exec(sql, ...args, q.limit)
      .toArray()
      .map(toEntry);
  }

  /** Sums recomputed from the ledger and the holds, for audits and tests. */
  sums(): { amount: number; held: number; openHolds: number; entries: number } {
    const l = this.sql
      .exec("SELECT COALESCE(SUM(amount), 0) AS a, COALESCE(SUM(held), 0) AS h, COUNT(*) AS n FROM ledger")
      .one();
    const h = this.sql.exec("SELECT COALESCE(SUM(reserved), 0) AS r FROM holds WHERE state = 'reserved'").one();
    return { amount: num(l.a), held: num(l.h), openHolds: num(h.r), entries: num(l.n) };
  }

  key(keyId: string): (KeyRecord & { hash: string }) | null {
    const rows = this.sql.exec("SELECT * FROM api_keys WHERE key_id = ?", keyId).toArray();
    if (!rows.length) return null;
    const r = rows[0];
    return {
      keyId: r.key_id as string,
      prefix: r.prefix as string,
      hash: r.hash as string,
      name: strOrNull(r.name),
      createdAt: num(r.created_at),
      revokedAt: numOrNull(r.revoked_at),
    };
  }

  keys(): KeyRecord[] {
    return this.sql
      .exec("SELECT key_id, prefix, name, created_at, revoked_at FROM api_keys ORDER BY created_at, key_id")
      .toArray()
      .map((r) => ({
        keyId: r.key_id as string,
        prefix: r.prefix as string,
        name: strOrNull(r.name),
        createdAt: num(r.created_at),
        revokedAt: numOrNull(r.revoked_at),
      }));
  }

  insertKey(k: KeyRecord & { hash: string }): void {
    this.sql.exec(
      "INSERT INTO api_keys (key_id, prefix, hash, name, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, NULL)",
      k.keyId,
      k.prefix,
      k.hash,
      k.name,
      k.createdAt,
    );
  }

  revokeKey(keyId: string, now: number): void {
    this.sql.exec("UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL", now, keyId);
  }

  dailyJobs(day: string): number {
    const rows = this.sql.exec("SELECT jobs FROM daily_usage WHERE day = ?", day).toArray();
    return rows.length ? num(rows[0].jobs) : 0;
  }

  countDailyJob(day: string): void {
    this.sql.exec(
      "INSERT INTO daily_usage (day, jobs) VALUES (?, 1) ON CONFLICT(day) DO UPDATE SET jobs = jobs + 1",
      day,
    );
  }
}
