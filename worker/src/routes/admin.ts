/**
 * Admin API, mounted at /admin, every route behind `Authorization: Bearer <ADMIN_TOKEN>`.
 *
 *   POST   /admin/accounts               {name?, creditLimit?, dailyQuota?, rateLimit?}  -> 201 {id, ...account}
 *   GET    /admin/accounts/:id                                                           -> account summary
 *   POST   /admin/accounts/:id/keys      {name?}                                         -> 201 {key, prefix} (once)
 *   GET    /admin/accounts/:id/keys                                                      -> [{prefix, name, ...}]
 *   DELETE /admin/keys/:prefix                                                           -> 204 (effective at once)
 *   POST   /admin/accounts/:id/credit    {amount, reference?}  (Idempotency-Key works as reference) -> {balance, entry}
 *   POST   /admin/accounts/:id/limit     {creditLimit?, dailyQuota?, rateLimit?}         -> account summary
 *
 * Amounts are integers in the price table's unit (microdollars). `creditLimit` lets the balance go that far below
 * zero (postpaid); `dailyQuota` is jobs per UTC day (null: the DEFAULT_DAILY_QUOTA var); `rateLimit` overrides the
 * RATE_LIMIT_* vars for the account's keys (null fields: back to the vars).
 */
import { Hono } from "hono";
import { z } from "zod";
import { accountStub, createAccount, credit, issueKey } from "../accounts/client";
import { fail, problemOnError, readJson } from "../accounts/http";
import { isAccountId, parseKeyPrefix } from "../accounts/keys";
import { MAX_AMOUNT } from "../accounts/ledger";
import type { AccountsBindings, TermsPatch } from "../accounts/types";
import { requireAdmin } from "../middleware/auth";

const amount = () => z.number().int().min(0).max(MAX_AMOUNT);
const name = z.string().trim().min(1).max(200).nullable().optional();
const RateLimitSchema = z.strictObject({
  burst: z.number().int().min(1).max(1_000_000).nullable().optional(),
  perSecond: z.number().positive().max(1_000_000).nullable().optional(),
});
const TermsFields = {
  creditLimit: amount().optional(),
  dailyQuota: z.number().int().min(1).max(10_000_000).nullable().optional(),
  rateLimit: RateLimitSchema.optional(),
};
export const NewAccountSchema = z.strictObject({ name, ...TermsFields });
export const TermsSchema = z.strictObject(TermsFields);
export const NewKeySchema = z.strictObject({ name });
export const CreditSchema = z.strictObject({
  amount: amount().refine((n) => n > 0, "must be positive"),
  reference: z.string().min(1).max(200).optional(),
});

function terms(body: z.output<typeof TermsSchema>): TermsPatch {
  return {
    creditLimit: body.creditLimit,
    dailyQuota: body.dailyQuota,
    rateLimitBurst: body.rateLimit?.burst,
    rateLimitPerSecond: body.rateLimit?.perSecond,
  };
}

function accountId(id: string): string {
  if (!isAccountId(id)) fail(404, "Not found", "no such account");
  return id;
}

export const adminRoutes = new Hono<{ Bindings: AccountsBindings }>();
adminRoutes.onError(problemOnError);
adminRoutes.use("*", requireAdmin);

adminRoutes.post("/accounts", async (c) => {
  const body = await readJson(c, NewAccountSchema);
  const account = await createAccount(c.env, { name: body.name ?? null, ...terms(body) });
  return c.json(account, 201, { Location: `/admin/accounts/${account.id}` });
});

adminRoutes.get("/accounts/:id", async (c) => {
  const account = await accountStub(c.env, accountId(c.req.param("id"))).getAccount();
  if (!account) fail(404, "Not found", "no such account");
  return c.json(account);
});

adminRoutes.post("/accounts/:id/limit", async (c) => {
  const id = accountId(c.req.param("id"));
  const body = await readJson(c, TermsSchema);
  const account = await accountStub(c.env, id).setTerms(terms(body));
  if (!account) fail(404, "Not found", "no such account");
  return c.json(account);
});

adminRoutes.post("/accounts/:id/keys", async (c) => {
  const id = accountId(c.req.param("id"));
  const body = await readJson(c, NewKeySchema);
  const k = await issueKey(c.env, id, body.name ?? null);
  if (!k) fail(404, "Not found", "no such account");
  // The only time the key exists outside its owner's hands: never cache this response.
  return c.json({ key: k.key, prefix: k.prefix, accountId: id }, 201, { "Cache-Control": "no-store" });
});

adminRoutes.get("/accounts/:id/keys", async (c) => {
  const keys = await accountStub(c.env, accountId(c.req.param("id"))).listKeys();
  if (!keys) fail(404, "Not found", "no such account");
  return c.json({
    keys: keys.map((k) => ({
      prefix: k.prefix,
      name: k.name,
      createdAt: new Date(k.createdAt).toISOString(),
      revokedAt: k.revokedAt === null ? null : new Date(k.revokedAt).toISOString(),
    })),
  });
});

adminRoutes.delete("/keys/:prefix", async (c) => {
  const parsed = parseKeyPrefix(c.req.param("prefix"));
  if (!parsed) fail(404, "Not found", "no such key");
  const r = await accountStub(c.env, parsed.accountId).revokeKey(parsed.keyId);
  if (r === "unknown") fail(404, "Not found", "no such key");
  return c.body(null, 204);
});

adminRoutes.post("/accounts/:id/credit", async (c) => {
  const id = accountId(c.req.param("id"));
  const body = await readJson(c, CreditSchema);
  const reference = body.reference ?? c.req.header("idempotency-key") ?? null;
  const r = await credit(c.env, id, body.amount, reference);
  if (!r.ok && r.reason === "unknown_account") fail(404, "Not found", "no such account");
  if (!r.ok) fail(409, "Conflict", "this reference was already used for another amount");
  return c.json(
    { accountId: id, balance: r.balance, duplicate: r.duplicate, entry: { ...r.entry, at: iso(r.entry.at) } },
    r.duplicate ? 200 : 201,
  );
});

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
