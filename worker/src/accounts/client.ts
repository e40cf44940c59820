/**
 * The worker's side of accounts: typed calls to the AccountDO of an account (one RPC round trip each).
 * These are the functions the jobs code calls (reserve on accept, capture on success, release on failure/cancel).
 */
import type { AccountDO } from "./AccountDO";
import { bearerToken, generateAccountId, generateApiKey, hashApiKey, type NewKey, parseApiKey } from "./keys";
import { isAmount } from "./ledger";
import type { TokenDecision } from "./tokenBucket";
import type {
  AccountInit,
  AccountSummary,
  AccountsBindings,
  AuthorizeResult,
  CaptureResult,
  CreditResult,
  Principal,
  ReleaseResult,
  ReserveResult,
} from "./types";

const JOB_ID = /^[\x21-\x7e]{1,200}$/;

export function accountStub(env: AccountsBindings, accountId: string): DurableObjectStub<AccountDO> {
  const ns = env.ACCOUNTS as unknown as DurableObjectNamespace<AccountDO>;
  return ns.get(ns.idFromName(accountId));
}

function checkJobId(jobId: string): void {
  if (!JOB_ID.test(jobId)) throw new TypeError(`invalid job id: ${JSON.stringify(jobId)}`);
}

function checkAmount(amount: number, what: string): void {
  if (!isAmount(amount)) throw new RangeError(`${what} must be a non-negative integer (microdollars), got ${amount}`);
}

// ---- authentication ----------------------------------------------------------------------------------------------

/**
 * Verifies `Authorization: Bearer <key>` and takes one rate-limit token, in one round trip to the account's DO.
 * Malformed keys are refused without touching any Durable Object.
 */
export async function authorizeKey(env: AccountsBindings, authorization: string | null): Promise<AuthorizeResult> {
  const key = bearerToken(authorization);
  const parsed = key ? parseApiKey(key) : null;
  if (!key || !parsed) return { ok: false, reason: "unknown_key" };
  const hash = await hashApiKey(key);
  return accountStub(env, parsed.accountId).authorize(parsed.keyId, hash);
}

/** The key's principal, or null when the key is missing, malformed, unknown or revoked. Takes a rate-limit token. */
export async function authenticate(env: AccountsBindings, authorization: string | null): Promise<Principal | null> {
  const r = await authorizeKey(env, authorization);
  return r.ok ? r.principal : null;
}

/** One token from the key's bucket (the auth middleware already takes one per request; this is for extra costs). */
export function takeToken(env: AccountsBindings, principal: Principal): Promise<TokenDecision> {
  return accountStub(env, principal.accountId).takeToken(principal.keyId);
}

// ---- money -------------------------------------------------------------------------------------------------------

/**
 * Holds `amount` (the quote) for `jobId`. Idempotent per job id: a replay returns ok with `duplicate: true` and the
 * original hold. Refusals carry a reason: "insufficient_funds" (402) or "daily_quota" (429 with retryAfter).
 */
export function reserve(
  env: AccountsBindings,
  accountId: string,
  jobId: string,
  amount: number,
): Promise<ReserveResult> {
  checkJobId(jobId);
  checkAmount(amount, "reservation");
  return accountStub(env, accountId).reserve(jobId, amount);
}

/** Charges the actual price (<= the hold; the rest is released). Idempotent: a duplicate changes nothing. */
export function capture(
  env: AccountsBindings,
  accountId: string,
  jobId: string,
  amount: number,
): Promise<CaptureResult> {
  checkJobId(jobId);
  checkAmount(amount, "capture");
  return accountStub(env, accountId).capture(jobId, amount);
}

/** Frees the hold (failure, cancel). Idempotent; a no-op after capture. */
export function release(env: AccountsBindings, accountId: string, jobId: string): Promise<ReleaseResult> {
  checkJobId(jobId);
  return accountStub(env, accountId).release(jobId);
}

export function credit(
  env: AccountsBindings,
  accountId: string,
  amount: number,
  reference: string | null = null,
): Promise<CreditResult> {
  checkAmount(amount, "credit");
  return accountStub(env, accountId).credit(amount, reference);
}

// ---- administration ----------------------------------------------------------------------------------------------

export async function createAccount(
  env: AccountsBindings,
  init: Omit<AccountInit, "id"> = {},
): Promise<AccountSummary> {
  // 96 random bits: a collision is not a practical concern, but a replayed create must not reuse someone's account.
  for (;;) {
    const id = generateAccountId();
    const r = await accountStub(env, id).createAccount({ ...init, id });
    if (r.created) return r.account;
  }
}

/** Issues a key; returns null when the account does not exist. The key is in the result and nowhere else. */
export async function issueKey(
  env: AccountsBindings,
  accountId: string,
  name: string | null = null,
): Promise<NewKey | null> {
  const stub = accountStub(env, accountId);
  for (let attempt = 0; attempt < 8; attempt++) {
    const k = generateApiKey(accountId);
    const r = await stub.addKey({ keyId: k.keyId, prefix: k.prefix, hash: await hashApiKey(k.key), name });
    if (r === "ok") return k;
    if (r === "no_account") return null;
  }
  throw new Error("could not draw a free key id");
}
