/**
 * Billing end to end through the public jobs API (the whole worker, its JobDO and the fake runner pool on loopback):
 * submits reserve, successes capture, failures release, cached re-renders cost the cache price, duplicated runner
 * events charge once.
 */

import { env, exports } from "cloudflare:workers";
import { DEFAULT_LIMITS, quote, renderPhases, resolveRequest } from "@accdiff/shared";
import { describe, expect, it } from "vitest";
import { type AccountsBindings, accountStub, createAccount, credit, issueKey } from "../src/accounts";
import { audit } from "./accountsHelpers";
import { conform } from "./contract";

const worker = (exports as unknown as { default: Fetcher }).default;
const bindings = env as unknown as AccountsBindings & { FAKE_URL: string; BASE_RESOLUTION: string; MAX_SIDE: string };
const base = Number(bindings.BASE_RESOLUTION);
const limits = { ...DEFAULT_LIMITS, baseResolution: base, maxSide: Number(bindings.MAX_SIDE) };

type Job = { id: string; status: string; quote: { price: number }; billing: { state: string; charged: number } };

async function account(balance: number) {
  const a = await createAccount(bindings);
  if (balance > 0) await credit(bindings, a.id, balance);
  const k = await issueKey(bindings, a.id);
  if (!k) throw new Error("no key");
  // Polling below spends tokens: give these keys room.
  await accountStub(bindings, a.id).setTerms({ rateLimitBurst: 500, rateLimitPerSecond: 100 });
  return { id: a.id, key: k.key };
}

async function submit(key: string, body: unknown, headers: Record<string, string> = {}) {
  const url = "http://worker/v1/images";
  const res = await worker.fetch(url, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return conform("POST", url, res);
}

async function scenario(prompt: string, s: unknown) {
  const r = await fetch(`${bindings.FAKE_URL}/_control/scenario`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ prompt, scenario: s }),
  });
  expect(r.status).toBe(200);
}

async function settled(key: string, id: string, timeoutMs = 15_000): Promise<Job> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const url = `http://worker/v1/images/${id}`;
    const r = await conform("GET", url, await worker.fetch(url, { headers: { authorization: `Bearer ${key}` } }));
    const job = (await r.json()) as Job;
    if (["succeeded", "failed", "cancelled"].includes(job.status) && job.billing.state !== "reserved") return job;
    if (Date.now() > until) {
      const seen = await (await fetch(`${bindings.FAKE_URL}/_control/jobs?jobId=${id}`)).text();
      throw new Error(
        `job ${id} still ${job.status}/${job.billing.state}: ${JSON.stringify(job).slice(0, 1500)} runner: ${seen.slice(0, 1500)}`,
      );
    }
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** Small renders (two phases) keep the fake runner's work short. */
const request = (prompt: string, seed = 7, side = 2 * base, progressive = true) => ({
  prompt,
  seed,
  width: side,
  height: side,
  switches: { progressiveUpscaling: progressive },
});

function priceOf(body: ReturnType<typeof request>, cachedPhases: number[] = []) {
  return quote(renderPhases(resolveRequest(body, limits), base), cachedPhases).price;
}

describe("billing through /v1/images", () => {
  it("50 concurrent submits against a balance that covers 10 accept exactly 10", async () => {
    const price = priceOf(request("fifty", 1, base));
    const { id, key } = await account(10 * price);
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) => submit(key, request(`fifty ${i}`, 1, base))),
    );
    const accepted = responses.filter((r) => r.status === 202 || r.status === 200);
    const refused = responses.filter((r) => r.status === 402);
    expect(accepted).toHaveLength(10);
    expect(refused).toHaveLength(40);
    for (const r of refused) {
      expect(r.headers.get("content-type")).toMatch(/problem\+json/);
      expect(await r.json()).toMatchObject({ status: 402, price, available: 0 });
    }
    // Whether or not the accepted jobs have finished yet, exactly ten quotes are held or charged.
    const books = await audit(id);
    expect(books.balance - books.reserved).toBe(0);
    const page = await accountStub(bindings, id).usage({ limit: 100 });
    expect(page?.entries.filter((e) => e.kind === "reserve")).toHaveLength(10);
  });

  it("a successful render captures its quote; a failed one leaves the balance as it was", async () => {
    const okBody = request("billing ok");
    const failBody = request("billing fails");
    const price = priceOf(okBody);
    const { id, key } = await account(5 * price);
    await scenario(failBody.prompt, { attempts: { "1": { mode: "fail", afterPhase: 1, retryable: false } } });
    const ok = (await (await submit(key, okBody)).json()) as Job;
    const failed = (await (await submit(key, failBody)).json()) as Job;
    expect(ok.quote.price).toBe(price);
    const okDone = await settled(key, ok.id);
    const failDone = await settled(key, failed.id);
    expect(okDone).toMatchObject({ status: "succeeded", billing: { state: "captured", charged: price } });
    expect(failDone).toMatchObject({ status: "failed", billing: { state: "released", charged: 0 } });
    expect(await audit(id)).toMatchObject({ balance: 4 * price, reserved: 0 });
  });

  it("duplicated runner events and a replayed submit charge once", async () => {
    const body = request("billing duplicated");
    const price = priceOf(body);
    const { id, key } = await account(5 * price);
    await scenario(body.prompt, { attempts: { "1": { mode: "complete", delivery: "duplicated" } } });
    const first = (await (await submit(key, body, { "idempotency-key": "dup-1" })).json()) as Job;
    await settled(key, first.id);
    const replay = await submit(key, body, { "idempotency-key": "dup-1" });
    expect(((await replay.json()) as Job).id).toBe(first.id);
    expect(await audit(id)).toMatchObject({ balance: 4 * price, reserved: 0 });
    const page = await accountStub(bindings, id).usage({ limit: 50 });
    expect(page?.entries.filter((e) => e.kind === "capture")).toHaveLength(1);
  });

  it("a cached re-render costs the cache price", async () => {
    // Phases 1 and 8 only: enough megapixels that the computed price is above the minimum, the cached one below.
    const body = request("billing cached rerender", 11, 8 * base, false);
    const computed = priceOf(body);
    const phases = quote(renderPhases(resolveRequest(body, limits), base), []).lines.map((l) => l.phase);
    const cachedPrice = priceOf(body, phases);
    expect(cachedPrice).toBeLessThan(computed);
    const { id, key } = await account(computed + cachedPrice);
    const first = (await (await submit(key, body)).json()) as Job;
    await settled(key, first.id);
    const again = await submit(key, body);
    expect(again.status).toBe(200);
    const second = await settled(key, ((await again.json()) as Job).id);
    expect(second.billing).toMatchObject({ state: "captured", charged: cachedPrice });
    expect(await audit(id)).toMatchObject({ balance: 0, reserved: 0 });
  });

  it("a revoked key is refused at once, before anything is reserved", async () => {
    const body = request("billing revoked", 3, base);
    const { id, key } = await account(10 * priceOf(body));
    const prefix = key.split("_").slice(0, 3).join("_");
    const r = await accountStub(bindings, id).revokeKey(prefix.slice(-8));
    expect(r).toBe("revoked");
    const res = await submit(key, body);
    expect(res.status).toBe(401);
    expect(res.headers.get("content-type")).toMatch(/problem\+json/);
    expect(await audit(id)).toMatchObject({ reserved: 0 });
  });
});
