/** Shapes exchanged between the AccountDO, its client and the routes (plain data: they cross RPC). */
import type { Hold, HoldState, LedgerEntry } from "./ledger";
import type { RateLimitConfig, TokenDecision } from "./tokenBucket";

/**
 * The bindings and vars this module reads. The worker's Env satisfies it structurally, so accounts/ depends on no
 * other worker module.
 */
export interface AccountsBindings {
  ACCOUNTS: DurableObjectNamespace;
  ADMIN_TOKEN?: string;
  /** Token bucket per key: burst size (default 60) and refill per second (default 10). */
  RATE_LIMIT_BURST?: string;
  RATE_LIMIT_PER_SECOND?: string;
  /** Jobs per account per UTC day when the account sets none; unset: no quota. */
  DEFAULT_DAILY_QUOTA?: string;
  /** A hold still open after this long is released by the account's alarm (default 86400: one day). */
  HOLD_TTL_SECONDS?: string;
}

export interface Principal {
  accountId: string;
  keyId: string;
  keyPrefix: string;
}

export type ReserveResult =
  | { ok: true; state: HoldState; reserved: number; duplicate: boolean }
  | { ok: false; reason: "insufficient_funds"; balance: number; available: number }
  | { ok: false; reason: "daily_quota"; balance: number; available: number; quota: number; retryAfter: number }
  | { ok: false; reason: "unknown_account"; balance: number; available: number };

export type CaptureResult =
  | { ok: true; outcome: "captured" | "duplicate"; charged: number }
  | { ok: false; outcome: "released" | "unknown" | "unknown_account" };

export type ReleaseResult =
  | { ok: true; outcome: "released" | "duplicate" | "captured" }
  | { ok: false; outcome: "unknown" | "unknown_account" };

export type CreditResult =
  | { ok: true; duplicate: boolean; entry: LedgerEntry; balance: number }
  | { ok: false; reason: "unknown_account" | "reference_conflict" };

export type AuthorizeResult =
  | { ok: true; principal: Principal; rate: TokenDecision }
  | { ok: false; reason: "unknown_key" | "revoked" | "unknown_account" };

export interface AccountSummary {
  id: string;
  name: string | null;
  createdAt: string;
  currency: string;
  unit: string;
  balance: number;
  /** Sum of open reservations. */
  reserved: number;
  creditLimit: number;
  /** balance + creditLimit - reserved: what new jobs may still reserve. */
  available: number;
  dailyQuota: number | null;
  today: { day: string; jobs: number };
  rateLimit: RateLimitConfig;
}

export interface UsagePage {
  account: AccountSummary;
  reservations: Hold[];
  entries: LedgerEntry[];
  /** Pass as `cursor` for older entries; null at the end. */
  nextCursor: string | null;
}

export interface TermsPatch {
  creditLimit?: number;
  /** null removes the account's own quota (back to DEFAULT_DAILY_QUOTA). */
  dailyQuota?: number | null;
  rateLimitBurst?: number | null;
  rateLimitPerSecond?: number | null;
}

export interface AccountInit extends TermsPatch {
  id: string;
  name?: string | null;
}
