/// <reference types="@cloudflare/vitest-pool-workers/types" />
/**
 * Test helpers for accounts and billing: an app that mounts only the accounts routes (so these tests do not depend
 * on the rest of the worker), the real bindings with a known admin token, and shortcuts for setting up accounts.
 */
import { env } from "cloudflare:workers";
import { Hono } from "hono";
import type { AccountsBindings } from "../src/accounts";
import { accountStub } from "../src/accounts";
import { adminRoutes } from "../src/routes/admin";
import { usageRoutes } from "../src/routes/usage";
import { conform } from "./contract";

export const ADMIN_TOKEN = "test-admin-token-0123456789abcdef";

/** The runtime's bindings (real Durable Objects) with a known admin token. */
export const testEnv: AccountsBindings = { ...(env as unknown as AccountsBindings), ADMIN_TOKEN };

export const app = new Hono<{ Bindings: AccountsBindings }>();
app.route("/admin", adminRoutes);
app.route("/v1/usage", usageRoutes);

export function call(
  method: string,
  path: string,
  opts: { body?: unknown; token?: string | null; headers?: Record<string, string>; env?: AccountsBindings } = {},
): Promise<Response> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.body !== undefined) {
    body = typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body);
    headers["content-type"] ??= "application/json";
  }
  return Promise.resolve(app.request(path, { method, headers, body }, opts.env ?? testEnv)).then((res) =>
    conform(method, path, res),
  );
}

export function admin(method: string, path: string, body?: unknown): Promise<Response> {
  return call(method, path, { body, token: ADMIN_TOKEN });
}

async function expectStatus(res: Response, status: number): Promise<Response> {
  if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${await res.text()}`);
  return res;
}

export async function newAccount(body: Record<string, unknown> = {}): Promise<string> {
  const res = await expectStatus(await admin("POST", "/admin/accounts", body), 201);
  return ((await res.json()) as { id: string }).id;
}

export async function newKey(accountId: string): Promise<{ key: string; prefix: string }> {
  const res = await expectStatus(await admin("POST", `/admin/accounts/${accountId}/keys`), 201);
  return (await res.json()) as { key: string; prefix: string };
}

export async function topUp(accountId: string, amount: number): Promise<number> {
  const res = await expectStatus(await admin("POST", `/admin/accounts/${accountId}/credit`, { amount }), 201);
  return ((await res.json()) as { balance: number }).balance;
}

/** An account with `balance` credited, and one key. */
export async function fundedAccount(balance: number, body: Record<string, unknown> = {}) {
  const id = await newAccount(body);
  if (balance > 0) await topUp(id, balance);
  const { key, prefix } = await newKey(id);
  return { id, key, prefix };
}

/** Asserts the account's books: the ledger sums equal the stored balance and reservations. */
export async function audit(accountId: string) {
  const a = await accountStub(testEnv, accountId).audit();
  if (!a) throw new Error(`no account ${accountId}`);
  if (a.ledgerSum !== a.balance || a.heldSum !== a.reserved || a.openHolds !== a.reserved) {
    throw new Error(`books out of balance: ${JSON.stringify(a)}`);
  }
  return a;
}
