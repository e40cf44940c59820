/**
 * One Durable Object per account (binding ACCOUNTS, named by the account id). It serialises every movement of the
 * account's money and holds its API keys, so that reserve/capture/release, top-ups and revocations are strongly
 * consistent without any cross-object coordination.
 *
 * Every public method is an RPC entry point and runs synchronously on the object's SQLite storage: a Durable Object
 * runs one event at a time, and a method with no `await` cannot interleave with another, so each movement (plan in
 * ledger.ts, write in store.ts, inside `transactionSync`) is atomic. 50 concurrent reserves are 50 sequential ones.
 */

import { DurableObject } from "cloudflare:workers";
import { PRICE_TABLE } from "@accdiff/shared";
import { type RotatedSecret, type WebhookSecretInfo, WebhookSecretStore } from "../webhooks/secrets";
import { constantTimeEqual } from "./keys";
import { available, type Hold, type LedgerEntry, planCapture, planCredit, planRelease, planReserve } from "./ledger";
import { parseQuota, secondsUntilNextUtcDay, utcDay } from "./quota";
import { AccountStore, type EntryQuery, type KeyRecord } from "./store";
import { type Bucket, type RateLimitConfig, rateLimitConfig, type TokenDecision, take } from "./tokenBucket";
import type {
  AccountInit,
  AccountSummary,
  AccountsBindings,
  AuthorizeResult,
  CaptureResult,
  CreditResult,
  ReleaseResult,
  ReserveResult,
  TermsPatch,
  UsagePage,
} from "./types";

const MAX_PAGE = 1000;
const DEFAULT_HOLD_TTL_SECONDS = 86_400;

export class AccountDO extends DurableObject<AccountsBindings> {
  private readonly store: AccountStore;
  private secrets: WebhookSecretStore | null = null;
  /** Set once the account row is known to exist (it is never deleted). */
  private known = false;
  /** Token buckets per key id, in memory on purpose (see tokenBucket.ts). */
  private readonly buckets = new Map<string, Bucket>();
  /** Whether this instance has scheduled the sweep of stale holds (re-derived from storage after a restart). */
  private sweepScheduled = false;

  constructor(ctx: DurableObjectState, env: AccountsBindings) {
    super(ctx, env);
    this.store = new AccountStore(ctx.storage.sql);
  }

  private exists(): boolean {
    if (!this.known) this.known = this.store.exists();
    return this.known;
  }

  // ---- account lifecycle and terms -------------------------------------------------------------------------------

  /** Creates the account; false if it already exists (ids are random, so this only happens on a replay). */
  createAccount(init: AccountInit): { created: boolean; account: AccountSummary } {
    if (!this.exists()) {
      this.ctx.storage.transactionSync(() =>
        this.store.insertAccount({
          id: init.id,
          name: init.name ?? null,
          createdAt: Date.now(),
          creditLimit: init.creditLimit ?? 0,
          dailyQuota: init.dailyQuota ?? null,
          rateBurst: init.rateLimitBurst ?? null,
          ratePerSecond: init.rateLimitPerSecond ?? null,
        }),
      );
      this.known = true;
      return { created: true, account: this.summary() };
    }
    return { created: false, account: this.summary() };
  }

  getAccount(): AccountSummary | null {
    return this.exists() ? this.summary() : null;
  }

  setTerms(patch: TermsPatch): AccountSummary | null {
    if (!this.exists()) return null;
    const a = this.store.account();
    this.store.updateTerms({
      creditLimit: patch.creditLimit ?? a.creditLimit,
      dailyQuota: patch.dailyQuota !== undefined ? patch.dailyQuota : a.dailyQuota,
      rateBurst: patch.rateLimitBurst !== undefined ? patch.rateLimitBurst : a.rateBurst,
      ratePerSecond: patch.rateLimitPerSecond !== undefined ? patch.rateLimitPerSecond : a.ratePerSecond,
    });
    return this.summary();
  }

  // ---- keys ------------------------------------------------------------------------------------------------------

  /** Stores a key's hash. "exists" when the key id is taken (the caller draws another). */
  addKey(k: { keyId: string; prefix: string; hash: string; name?: string | null }): "ok" | "exists" | "no_account" {
    if (!this.exists()) return "no_account";
    if (this.store.key(k.keyId)) return "exists";
    this.store.insertKey({ ...k, name: k.name ?? null, createdAt: Date.now(), revokedAt: null });
    return "ok";
  }

  listKeys(): KeyRecord[] | null {
    return this.exists() ? this.store.keys() : null;
  }

  /** Effective at once: the next authorize() of this key, anywhere, reads the same row. */
  revokeKey(keyId: string): "revoked" | "already" | "unknown" {
    if (!this.exists()) return "unknown";
    const k = this.store.key(keyId);
    if (!k) return "unknown";
    if (k.revokedAt !== null) return "already";
    this.store.revokeKey(keyId, Date.now());
    this.buckets.delete(keyId);
    return "revoked";
  }

  /** Checks a presented key (by its hash) and takes a rate-limit token in the same round trip. */
  authorize(keyId: string, hash: string): AuthorizeResult {
    if (!this.exists()) return { ok: false, reason: "unknown_account" };
    const k = this.store.key(keyId);
    // Compare even when the key is revoked so that timing does not reveal which keys exist or were revoked.
    const match = k !== null && constantTimeEqual(k.hash, hash);
    if (!k || !match) return { ok: false, reason: "unknown_key" };
    if (k.revokedAt !== null) return { ok: false, reason: "revoked" };
    const principal = { accountId: this.store.account().id, keyId: k.keyId, keyPrefix: k.prefix };
    return { ok: true, principal, rate: this.takeToken(keyId) };
  }

  takeToken(keyId: string): TokenDecision {
    const { bucket, decision } = take(this.buckets.get(keyId), this.rateConfig(), Date.now());
    this.buckets.set(keyId, bucket);
    return decision;
  }

  // ---- webhook signing secret (webhooks/secrets.ts) --------------------------------------------------------------

  private webhookSecrets(): WebhookSecretStore {
    this.secrets ??= new WebhookSecretStore(this.ctx.storage.sql);
    return this.secrets;
  }

  /** When the secret was made (never the secret itself); null without an account or a secret. */
  webhookSecretInfo(): WebhookSecretInfo | null {
    return this.exists() ? this.webhookSecrets().info() : null;
  }

  /** Creates or rotates the secret and returns it (the only time it is shown); null without an account. */
  rotateWebhookSecret(): RotatedSecret | null {
    return this.exists() ? this.webhookSecrets().rotate() : null;
  }

  /** The secrets that sign a delivery now (current first); empty when none was created. */
  webhookSigningSecrets(): string[] {
    return this.exists() ? this.webhookSecrets().signing() : [];
  }

  // ---- money -----------------------------------------------------------------------------------------------------

  /** Holds `amount` for `jobId`; idempotent per job id; refused when funds or today's quota do not allow it. */
  reserve(jobId: string, amount: number): ReserveResult {
    if (!this.exists()) return { ok: false, reason: "unknown_account", balance: 0, available: 0 };
    const now = Date.now();
    const account = this.store.account();
    const existing = this.store.hold(jobId);
    const totals = this.store.totals();
    if (!existing) {
      const quota = this.dailyQuota(account.dailyQuota);
      const day = utcDay(now);
      if (quota !== null && this.store.dailyJobs(day) >= quota) {
        const avail = Math.max(0, available(totals, account.creditLimit));
        const retryAfter = secondsUntilNextUtcDay(now);
        return { ok: false, reason: "daily_quota", balance: totals.balance, available: avail, quota, retryAfter };
      }
    }
    const plan = planReserve(totals, existing, jobId, amount, account.creditLimit, now);
    switch (plan.outcome) {
      case "duplicate":
        return { ok: true, state: plan.hold.state, reserved: plan.hold.reserved, duplicate: true };
      case "insufficient":
        return { ok: false, reason: "insufficient_funds", balance: plan.balance, available: plan.available };
      case "reserved":
        this.ctx.storage.transactionSync(() => {
          this.store.append(plan.entry, plan.totals);
          this.store.putHold(plan.hold);
          this.store.countDailyJob(utcDay(now));
        });
        if (!this.sweepScheduled) this.scheduleSweep();
        return { ok: true, state: "reserved", reserved: amount, duplicate: false };
    }
  }

  /** Charges the actual price (capped at the hold) and releases the rest; idempotent. */
  capture(jobId: string, amount: number): CaptureResult {
    if (!this.exists()) return { ok: false, outcome: "unknown_account" };
    const plan = planCapture(this.store.totals(), this.store.hold(jobId), amount, Date.now());
    switch (plan.outcome) {
      case "unknown":
      case "released":
        return { ok: false, outcome: plan.outcome };
      case "duplicate":
        return { ok: true, outcome: "duplicate", charged: plan.hold.captured };
      case "captured":
        this.commit(plan.entry, plan.totals, plan.hold);
        return { ok: true, outcome: "captured", charged: plan.hold.captured };
    }
  }

  /** Frees the hold; idempotent; a no-op after capture. */
  release(jobId: string): ReleaseResult {
    if (!this.exists()) return { ok: false, outcome: "unknown_account" };
    const plan = planRelease(this.store.totals(), this.store.hold(jobId), Date.now());
    if (plan.outcome === "unknown") return { ok: false, outcome: "unknown" };
    if (plan.outcome === "released") this.commit(plan.entry, plan.totals, plan.hold);
    return { ok: true, outcome: plan.outcome };
  }

  /** Prepaid top-up. With a `reference`, a replay of the same top-up changes nothing. */
  credit(amount: number, reference: string | null = null): CreditResult {
    if (!this.exists()) return { ok: false, reason: "unknown_account" };
    if (reference !== null) {
      const previous = this.store.creditByReference(reference);
      if (previous) {
        if (previous.amount !== amount) return { ok: false, reason: "reference_conflict" };
        return { ok: true, duplicate: true, entry: previous, balance: this.store.totals().balance };
      }
    }
    const { entry, totals } = planCredit(this.store.totals(), amount, reference, Date.now());
    this.commit(entry, totals, null);
    return { ok: true, duplicate: false, entry, balance: totals.balance };
  }

  holdOf(jobId: string): Hold | null {
    return this.exists() ? this.store.hold(jobId) : null;
  }

  // ---- reporting -------------------------------------------------------------------------------------------------

  /** Balance, open reservations and one page of the ledger, newest first. */
  usage(opts: { before?: number; limit?: number } = {}): UsagePage | null {
    if (!this.exists()) return null;
    const limit = clampLimit(opts.limit, 50);
    const rows = this.store.entries({ before: opts.before, limit: limit + 1 });
    const entries = rows.slice(0, limit);
    const nextCursor = rows.length > limit ? String(entries[entries.length - 1].seq) : null;
    return { account: this.summary(), reservations: this.store.openHolds(MAX_PAGE), entries, nextCursor };
  }

  /** One page of the account's job ids, newest first (GET /v1/images). */
  jobs(q: { before: { at: number; jobId: string } | null; limit: number }): { jobId: string; at: number }[] | null {
    if (!this.exists()) return null;
    return this.store.jobsBefore(q.before, clampLimit(q.limit, 20));
  }

  /** Oldest first after `after` (export pages). */
  ledger(q: { after?: number; from?: number; to?: number; limit?: number }): LedgerEntry[] | null {
    if (!this.exists()) return null;
    const query: EntryQuery = { after: q.after ?? 0, from: q.from, to: q.to, limit: clampLimit(q.limit, MAX_PAGE) };
    return this.store.entries(query);
  }

  /** The ledger's sums next to the stored totals: they are equal unless something is broken. */
  audit(): { balance: number; ledgerSum: number; reserved: number; heldSum: number; openHolds: number } | null {
    if (!this.exists()) return null;
    const t = this.store.totals();
    const s = this.store.sums();
    return { balance: t.balance, ledgerSum: s.amount, reserved: t.held, heldSum: s.held, openHolds: s.openHolds };
  }

  /**
   * Releases holds older than HOLD_TTL_SECONDS. A hold normally settles within minutes (the JobDO retries capture and
   * release from its own alarm); one that does not was leaked by a crash between reserve and job creation, and would
   * otherwise lower `available` forever. A job that completes after its hold expired is not charged.
   */
  override async alarm(): Promise<void> {
    if (!this.exists()) return;
    const now = Date.now();
    const ttl = this.holdTtlMs();
    for (;;) {
      const stale = this.store.openHolds(100).filter((h) => h.createdAt + ttl <= now);
      if (stale.length === 0) break;
      for (const h of stale) {
        const plan = planRelease(this.store.totals(), h, now, `expired: open for over ${ttl / 1000}s`);
        if (plan.outcome === "released") this.commit(plan.entry, plan.totals, plan.hold);
      }
    }
    this.scheduleSweep();
  }

  // ---- internals -------------------------------------------------------------------------------------------------

  private commit(entry: LedgerEntry, totals: ReturnType<AccountStore["totals"]>, hold: Hold | null): void {
    this.ctx.storage.transactionSync(() => {
      this.store.append(entry, totals);
      if (hold) this.store.putHold(hold);
    });
  }

  /** The alarm fires when the oldest open hold expires; none when nothing is held. */
  private scheduleSweep(): void {
    const oldest = this.store.openHolds(1)[0];
    // Storage writes need no await inside a Durable Object: the output gate holds the response until they land.
    if (oldest) void this.ctx.storage.setAlarm(oldest.createdAt + this.holdTtlMs());
    else void this.ctx.storage.deleteAlarm();
    this.sweepScheduled = oldest !== undefined;
  }

  private holdTtlMs(): number {
    const s = Number(this.env.HOLD_TTL_SECONDS);
    return (Number.isFinite(s) && s > 0 ? s : DEFAULT_HOLD_TTL_SECONDS) * 1000;
  }

  private dailyQuota(own: number | null): number | null {
    return own ?? parseQuota(this.env.DEFAULT_DAILY_QUOTA);
  }

  private rateConfig(): RateLimitConfig {
    const a = this.store.account();
    return rateLimitConfig(this.env, { burst: a.rateBurst ?? undefined, perSecond: a.ratePerSecond ?? undefined });
  }

  private summary(): AccountSummary {
    const a = this.store.account();
    const t = this.store.totals();
    const day = utcDay(Date.now());
    return {
      id: a.id,
      name: a.name,
      createdAt: new Date(a.createdAt).toISOString(),
      currency: PRICE_TABLE.currency,
      unit: PRICE_TABLE.unit,
      balance: t.balance,
      reserved: t.held,
      creditLimit: a.creditLimit,
      available: available(t, a.creditLimit),
      dailyQuota: this.dailyQuota(a.dailyQuota),
      today: { day, jobs: this.store.dailyJobs(day) },
      rateLimit: this.rateConfig(),
    };
  }
}

function clampLimit(limit: number | undefined, fallback: number): number {
  if (limit === undefined || !Number.isSafeInteger(limit) || limit < 1) return fallback;
  return Math.min(limit, MAX_PAGE);
}
