/** Accounts and pay-per-image billing: the surface the rest of the worker uses. */
export { AccountDO } from "./AccountDO";
export {
  accountStub,
  authenticate,
  authorizeKey,
  capture,
  createAccount,
  credit,
  issueKey,
  release,
  reserve,
  takeToken,
} from "./client";
export { parseApiKey, parseKeyPrefix } from "./keys";
export type { Hold, HoldState, LedgerEntry } from "./ledger";
export type { RateLimitConfig, TokenDecision } from "./tokenBucket";
export type {
  AccountSummary,
  AccountsBindings,
  AuthorizeResult,
  CaptureResult,
  CreditResult,
  Principal,
  ReleaseResult,
  ReserveResult,
  UsagePage,
} from "./types";
