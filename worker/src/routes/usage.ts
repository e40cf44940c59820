/**
 * Usage of the calling key's account, mounted at /v1/usage (API key required).
 *
 *   GET /v1/usage?limit=&cursor=      balance, reservations, one page of the ledger (newest first; `nextCursor`)
 *   GET /v1/usage/export?from=&to=    the ledger as CSV, oldest first, for invoicing (`from` inclusive, `to`
 *                                     exclusive; ISO dates or date-times)
 */
import { Hono } from "hono";
import { accountStub } from "../accounts/client";
import { ledgerCsvHeader, ledgerCsvRow } from "../accounts/csv";
import { fail, problemOnError } from "../accounts/http";
import type { Hold, LedgerEntry } from "../accounts/ledger";
import { type KeyedEnv, requireKey } from "../middleware/auth";

const EXPORT_PAGE = 1000;

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

function entryJson(e: LedgerEntry) {
  return { ...e, at: iso(e.at) };
}

function holdJson(h: Hold) {
  return { jobId: h.jobId, amount: h.reserved, since: iso(h.createdAt) };
}

function positiveInt(raw: string | undefined, what: string, max: number): number | undefined {
  if (raw === undefined || raw === "") return undefined;
  if (!/^[1-9][0-9]{0,15}$/.test(raw) || Number(raw) > max) fail(400, "Bad request", `${what} must be in [1, ${max}]`);
  return Number(raw);
}

function instant(raw: string | undefined, what: string): number | undefined {
  if (raw === undefined || raw === "") return undefined;
  const ms = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2}))?$/.test(raw) ? Date.parse(raw) : Number.NaN;
  if (!Number.isFinite(ms)) fail(400, "Bad request", `${what} must be an ISO 8601 date or date-time`);
  return ms;
}

export const usageRoutes = new Hono<KeyedEnv>();
usageRoutes.onError(problemOnError);
usageRoutes.use("*", requireKey);

usageRoutes.get("/", async (c) => {
  const limit = positiveInt(c.req.query("limit"), "limit", 200);
  const before = positiveInt(c.req.query("cursor"), "cursor", Number.MAX_SAFE_INTEGER);
  const page = await accountStub(c.env, c.get("principal").accountId).usage({ before, limit });
  if (!page) fail(404, "Not found", "no such account");
  return c.json({
    ...page.account,
    reservations: page.reservations.map(holdJson),
    ledger: { entries: page.entries.map(entryJson), nextCursor: page.nextCursor },
  });
});

usageRoutes.get("/export", (c) => {
  const from = instant(c.req.query("from"), "from");
  const to = instant(c.req.query("to"), "to");
  const accountId = c.get("principal").accountId;
  const stub = accountStub(c.env, accountId);
  const encoder = new TextEncoder();
  let after = 0;
  let started = false;
  // Streamed page by page so that a long ledger never sits in memory at once.
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!started) {
        started = true;
        controller.enqueue(encoder.encode(ledgerCsvHeader()));
      }
      const entries = await stub.ledger({ after, from, to, limit: EXPORT_PAGE });
      if (!entries || entries.length === 0) return controller.close();
      controller.enqueue(encoder.encode(entries.map(ledgerCsvRow).join("")));
      after = entries[entries.length - 1].seq;
      if (entries.length < EXPORT_PAGE) controller.close();
    },
  });
  const name = `usage-${accountId}${from !== undefined ? `-from-${iso(from)?.slice(0, 10)}` : ""}.csv`;
  return c.body(body, 200, {
    "Content-Type": "text/csv; charset=utf-8",
    "Content-Disposition": `attachment; filename="${name}"`,
    "Cache-Control": "no-store",
  });
});
