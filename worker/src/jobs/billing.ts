/**
 * A job's side of its billing: the state machine decides what the job costs (`s.billing`, transitions.ts), and this
 * makes the account's AccountDO agree. The calls are idempotent (per job id), so a settlement that failed is simply
 * tried again from the job's alarm, every BILLING_RETRY_MS, until it goes through.
 */
import { capture, release } from "../accounts";
import type { JobState } from "../domain/job";
import type { Env } from "../env";

/** How long the job's alarm waits before retrying a settlement that failed. */
export const BILLING_RETRY_MS = 5_000;

/** Makes the AccountDO agree with `s.billing`; `s.billingPending` says whether it still has to be retried. */
export async function settleBilling(env: Env, s: JobState): Promise<void> {
  try {
    if (s.billing.state === "captured") {
      const r = await capture(env, s.accountId, s.id, s.billing.charged);
      if (!r.ok) s.warnings.push(`billing: capture answered ${r.outcome}`);
    } else if (s.billing.state === "released") {
      const r = await release(env, s.accountId, s.id);
      if (!r.ok) s.warnings.push(`billing: release answered ${r.outcome}`);
    }
    s.billingPending = false;
  } catch (err) {
    s.billingPending = true;
    console.warn(`job ${s.id}: billing not settled yet: ${err instanceof Error ? err.message : String(err)}`);
  }
}
