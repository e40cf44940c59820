/**
 * Daily quota per account: a number of accepted jobs per UTC day. Jobs count when their reservation is taken (a
 * duplicate reserve of the same job does not count again); a released job still counted, so that a client cannot
 * loop on requests that fail.
 */

const DAY_MS = 86_400_000;

/** "YYYY-MM-DD" of the UTC day containing `now` (epoch ms). */
export function utcDay(now: number): string {
  return new Date(now).toISOString().slice(0, 10);
}

/** Whole seconds until the next UTC midnight, at least 1 (a Retry-After value). */
export function secondsUntilNextUtcDay(now: number): number {
  const next = (Math.floor(now / DAY_MS) + 1) * DAY_MS;
  return Math.max(1, Math.ceil((next - now) / 1000));
}

/** A positive integer quota from a setting or env var; anything else means "no quota". */
export function parseQuota(value: string | number | null | undefined): number | null {
  if (value === undefined || value === null || value === "") return null;
  const n = typeof value === "number" ? value : Number(value);
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}
