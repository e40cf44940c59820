/**
 * Client webhooks in the Workers runtime against a loopback receiver (test/fakes/fakeHooks.ts): the account's secret
 * (created, shown once, rotated), deliveries signed by the JobDO and verified here with the `standardwebhooks`
 * package, the event filter, a retry after a 500 with the same event id, and refusals of internal addresses — at
 * submission (IP literals, names that resolve there, loopback in the production policy) and before a delivery (a
 * name re-pointed at a private address after it was accepted).
 */
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import {
  account,
  api,
  body2x,
  expectJob,
  expectJson,
  FAKE,
  getJob,
  runnerLog,
  seedOf,
  setScenario,
  uniquePrompt,
  waitFor,
  waitForStatus,
} from "./jobsHelpers";

interface Received {
  headers: Record<string, string>;
  body: string;
  status: number;
}

interface Rotated {
  secret: string;
  createdAt: string;
  previousValidUntil: string | null;
}

interface DeliveryView {
  id: string;
  type: string;
  phase: number | null;
  state: string;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
}

const FUNDS = 1_000_000;

async function received(name: string): Promise<Received[]> {
  const res = await fetch(`${FAKE}/_control/hooks?name=${name}`);
  return ((await res.json()) as { deliveries: Received[] }).deliveries;
}

async function hookScenario(name: string, scenario: { failFirst?: number; status?: number }) {
  await fetch(`${FAKE}/_control/hooks/scenario`, { method: "POST", body: JSON.stringify({ name, scenario }) });
}

/** The fake runner, told to cancel, has posted its last event (nothing reaches the worker after the test). */
async function runnerFinished(prompt: string): Promise<void> {
  await waitFor("runner finished", async () => (await runnerLog(prompt)).jobs[0]?.finished);
}

/** The fake runner holds after phase 1 (so that a cancel reaches it while it waits). */
async function heldAfterPhase1(key: string, id: string): Promise<void> {
  await waitFor("phase 1 done", async () => {
    const j = await getJob(key, id);
    return j.status === "running" && j.progress.phasesDone.includes(1);
  });
}

async function rotate(key: string): Promise<Rotated> {
  return expectJson<Rotated>(await api("POST", "/v1/webhooks/secret", { key }), 201);
}

async function deliveries(key: string, id: string): Promise<DeliveryView[]> {
  return (await expectJson<{ deliveries: DeliveryView[] }>(await api("GET", `/v1/images/${id}/webhooks`, { key }), 200))
    .deliveries;
}

/** A funded account with a webhook secret, and a fresh hook name on the receiver. */
async function hooked(label: string) {
  const acct = await account(FUNDS);
  const { secret } = await rotate(acct.key);
  const name = `${label}-${crypto.randomUUID()}`;
  return { acct, secret, name, url: `${FAKE}/hooks/${name}` };
}

function payload(r: Received) {
  return JSON.parse(r.body) as {
    type: string;
    timestamp: string;
    data: { phase?: number; job: { id: string; status: string; image?: { url: string } } };
  };
}

describe("webhook secret", () => {
  it("is shown once when created, never by GET, and a rotation keeps the previous one valid for a day", async () => {
    const acct = await account(FUNDS);
    expect((await api("GET", "/v1/webhooks/secret", { key: acct.key })).status).toBe(404);
    const first = await rotate(acct.key);
    expect(first.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(first.previousValidUntil).toBeNull();
    const info = await expectJson<Record<string, unknown>>(
      await api("GET", "/v1/webhooks/secret", { key: acct.key }),
      200,
    );
    expect(info).toEqual({ createdAt: first.createdAt, previousValidUntil: null });
    expect(JSON.stringify(info)).not.toContain(first.secret.slice(6));
    const second = await rotate(acct.key);
    expect(second.secret).not.toBe(first.secret);
    const grace = Date.parse(second.previousValidUntil ?? "") - Date.parse(second.createdAt);
    expect(grace).toBe(24 * 3600 * 1000);
    expect((await api("POST", "/v1/webhooks/secret")).status).toBe(401);
  });

  it("is required before a job may ask for a webhook", async () => {
    const acct = await account(FUNDS);
    const body = body2x(uniquePrompt("no secret"), seedOf(), { webhook: `${FAKE}/hooks/none` });
    const p = await expectJson<{ errors: { path: string; message: string }[] }>(
      await api("POST", "/v1/images", { key: acct.key, body }),
      422,
    );
    expect(p.errors[0]).toMatchObject({ path: "webhook", message: expect.stringContaining("/v1/webhooks/secret") });
  });
});

describe("webhook delivery", () => {
  it("delivers phase and completed events signed with the account's secret, once per event id", async () => {
    const { acct, secret, name, url } = await hooked("ok");
    const body = body2x(uniquePrompt("hooked"), seedOf(), { webhook: url, webhook_events: ["phase", "completed"] });
    const job = await expectJob(await api("POST", "/v1/images", { key: acct.key, body }), 202);
    const done = await waitForStatus(acct.key, job.id, ["succeeded", "failed"]);
    expect(done.status).toBe("succeeded");
    const got = await waitFor("three deliveries", async () => {
      const r = await received(name);
      return r.length >= 3 ? r : null;
    });
    const wh = new Webhook(secret);
    for (const r of got) expect(() => wh.verify(r.body, r.headers)).not.toThrow();
    expect(() =>
      new Webhook(`whsec_${btoa("not the secret, 32 bytes long!!!")}`).verify(got[0].body, got[0].headers),
    ).toThrow();
    const types = got.map((r) => [payload(r).type, payload(r).data.phase ?? null]);
    expect(types).toEqual([
      ["job.phase", 1],
      ["job.phase", 2],
      ["job.completed", null],
    ]);
    const ids = got.map((r) => r.headers["webhook-id"]);
    expect(new Set(ids).size).toBe(3);
    expect(ids[2]).toBe(`msg_${job.id}_completed`);
    const completed = payload(got[2]).data.job;
    expect(completed).toMatchObject({ id: job.id, status: "succeeded" });
    // The payload's link works without the API key (signed).
    expect((await api("GET", completed.image?.url ?? "")).status).toBe(200);
    const views = await deliveries(acct.key, job.id);
    expect(views.map((d) => [d.type, d.state, d.attempts, d.lastStatus])).toEqual([
      ["job.phase", "delivered", 1, 204],
      ["job.phase", "delivered", 1, 204],
      ["job.completed", "delivered", 1, 204],
    ]);
    // Another account cannot see the deliveries.
    const other = await account(FUNDS);
    expect((await api("GET", `/v1/images/${job.id}/webhooks`, { key: other.key })).status).toBe(404);
  });

  it("tells of a job the cache answered at once (200) too: completed, no phases it did not compute", async () => {
    const { acct, secret, name, url } = await hooked("cached");
    const prompt = uniquePrompt("hook cached");
    const seed = seedOf();
    const first = await expectJob(await api("POST", "/v1/images", { key: acct.key, body: body2x(prompt, seed) }), 202);
    expect((await waitForStatus(acct.key, first.id, ["succeeded", "failed"])).status).toBe("succeeded");
    const body = body2x(prompt, seed, { webhook: url, webhook_events: ["phase", "completed"] });
    const hit = await expectJob(await api("POST", "/v1/images", { key: acct.key, body }), 200);
    expect(hit.dispatched).toBe(false);
    const [r] = await waitFor("delivery", async () => {
      const got = await received(name);
      return got.length >= 1 ? got : null;
    });
    expect(() => new Webhook(secret).verify(r.body, r.headers)).not.toThrow();
    expect(payload(r)).toMatchObject({ type: "job.completed", data: { job: { id: hit.id, status: "succeeded" } } });
    expect(await received(name)).toHaveLength(1);
  });

  it("delivers the events of one transition in order: a phase before the end (Replicate's completion)", async () => {
    const { acct, name, url } = await hooked("one-transition");
    const body = body2x(uniquePrompt("hook replicate"), seedOf(), {
      webhook: url,
      webhook_events: ["phase", "completed"],
    });
    const res = await api("POST", "/v1/images", {
      key: acct.key,
      body,
      envOverride: { DISPATCH_BACKEND: "replicate" },
    });
    const job = await expectJob(res, 202);
    expect((await waitForStatus(acct.key, job.id, ["succeeded", "failed"])).status).toBe("succeeded");
    const got = await waitFor("two deliveries", async () => {
      const r = await received(name);
      return r.length >= 2 ? r : null;
    });
    expect(got.map((r) => [payload(r).type, payload(r).data.phase ?? null])).toEqual([
      ["job.phase", 2],
      ["job.completed", null],
    ]);
  });

  it("retries after a 500 with the same event id, signed anew", async () => {
    const { acct, secret, name, url } = await hooked("retry");
    await hookScenario(name, { failFirst: 1, status: 500 });
    const body = body2x(uniquePrompt("hook retry"), seedOf(), { webhook: url });
    const job = await expectJob(await api("POST", "/v1/images", { key: acct.key, body }), 202);
    const got = await waitFor("a retry", async () => {
      const r = await received(name);
      return r.length >= 2 ? r : null;
    });
    expect(got.map((r) => r.status)).toEqual([500, 204]);
    expect(got[1].headers["webhook-id"]).toBe(got[0].headers["webhook-id"]);
    expect(got[1].body).toBe(got[0].body);
    expect(Number(got[1].headers["webhook-timestamp"])).toBeGreaterThanOrEqual(
      Number(got[0].headers["webhook-timestamp"]),
    );
    expect(payload(got[1]).type).toBe("job.completed");
    expect(() => new Webhook(secret).verify(got[1].body, got[1].headers)).not.toThrow();
    const [d] = await waitFor("delivered", async () => {
      const v = await deliveries(acct.key, job.id);
      return v[0]?.state === "delivered" ? v : null;
    });
    expect(d).toMatchObject({ attempts: 2, lastStatus: 204, lastError: null });
  });

  it("signs with both secrets while a rotation's grace lasts", async () => {
    const { acct, secret: old, name, url } = await hooked("rotation");
    const { secret: fresh } = await rotate(acct.key);
    const body = body2x(uniquePrompt("hook rotation"), seedOf(), { webhook: url });
    await expectJob(await api("POST", "/v1/images", { key: acct.key, body }), 202);
    const [r] = await waitFor("delivery", async () => {
      const got = await received(name);
      return got.length >= 1 ? got : null;
    });
    expect(r.headers["webhook-signature"].split(" ")).toHaveLength(2);
    expect(() => new Webhook(fresh).verify(r.body, r.headers)).not.toThrow();
    expect(() => new Webhook(old).verify(r.body, r.headers)).not.toThrow();
  });

  it("sends only the events asked for: a cancel, not a completion", async () => {
    const { acct, name, url } = await hooked("cancel");
    const prompt = uniquePrompt("hook cancel");
    await setScenario(prompt, { attempts: { "1": { mode: "hold", afterPhase: 1 } } });
    const body = body2x(prompt, seedOf(), { webhook: url, webhook_events: ["cancelled", "failed"] });
    const job = await expectJob(await api("POST", "/v1/images", { key: acct.key, body }), 202);
    await heldAfterPhase1(acct.key, job.id);
    await expectJob(await api("DELETE", `/v1/images/${job.id}`, { key: acct.key }), 200);
    const [r] = await waitFor("delivery", async () => {
      const got = await received(name);
      return got.length >= 1 ? got : null;
    });
    expect(payload(r)).toMatchObject({ type: "job.cancelled", data: { job: { id: job.id, status: "cancelled" } } });
    await runnerFinished(prompt);
    expect(await received(name)).toHaveLength(1);
  });

  it("tells of a failed job", async () => {
    const { acct, name, url } = await hooked("failed");
    const prompt = uniquePrompt("hook failed");
    await setScenario(prompt, { attempts: { "1": { mode: "fail", afterPhase: 1, retryable: false } } });
    const body = body2x(prompt, seedOf(), { webhook: url, webhook_events: ["failed"] });
    const job = await expectJob(await api("POST", "/v1/images", { key: acct.key, body }), 202);
    expect((await waitForStatus(acct.key, job.id, ["succeeded", "failed"])).status).toBe("failed");
    const [r] = await waitFor("delivery", async () => {
      const got = await received(name);
      return got.length >= 1 ? got : null;
    });
    expect(payload(r)).toMatchObject({ type: "job.failed", data: { job: { status: "failed" } } });
  });
});

describe("webhook address policy", () => {
  async function refused(key: string, webhook: string, envOverride?: Record<string, string | undefined>) {
    const body = body2x(uniquePrompt("refused"), seedOf(), { webhook });
    const res = await api("POST", "/v1/images", { key, body, envOverride: envOverride as never });
    return expectJson<{ errors: { path: string; message: string }[] }>(res, 422);
  }

  it("refuses private, link-local and (in production) loopback targets at submission", async () => {
    const { acct } = await hooked("policy");
    for (const [url, why] of [
      ["https://10.1.2.3/hook", "private"],
      ["https://[fd00::1]/hook", "private"],
      ["https://169.254.169.254/latest/meta-data", "link-local"],
      ["https://private.hooks.test/hook", "10.20.30.40"],
      ["https://metadata.hooks.test/hook", "link-local"],
      ["https://ula.hooks.test/hook", "fd00::5"],
      ["https://nowhere.hooks.test/hook", "does not resolve"],
      ["http://public.hooks.test/hook", "https"],
    ] as const) {
      const p = await refused(acct.key, url);
      expect(p.errors[0].path, url).toBe("webhook");
      expect(p.errors[0].message, url).toContain(why);
    }
    const production = { LOCAL_DEV: undefined };
    for (const url of [`${FAKE}/hooks/x`, "https://127.0.0.1/hook", "https://loop.hooks.test/hook"]) {
      const p = await refused(acct.key, url, production);
      expect(p.errors[0].message, url).toMatch(/loopback|https/);
    }
  });

  it("checks the address again before a delivery: a name re-pointed at a private address is refused", async () => {
    const { acct } = await hooked("rebind");
    const host = `rebind-${crypto.randomUUID().slice(0, 8)}.hooks.test`;
    const dns = (A: string[]) =>
      fetch(`${FAKE}/_control/dns`, { method: "POST", body: JSON.stringify({ name: host, records: { A } }) });
    await dns(["93.184.215.14"]);
    const prompt = uniquePrompt("rebind");
    await setScenario(prompt, { attempts: { "1": { mode: "hold", afterPhase: 1 } } });
    const body = body2x(prompt, seedOf(), { webhook: `https://${host}/hook`, webhook_events: ["cancelled"] });
    const job = await expectJob(await api("POST", "/v1/images", { key: acct.key, body }), 202);
    await dns(["192.168.7.7"]);
    await heldAfterPhase1(acct.key, job.id);
    await expectJob(await api("DELETE", `/v1/images/${job.id}`, { key: acct.key }), 200);
    const [d] = await waitFor("refused delivery", async () => {
      const v = await deliveries(acct.key, job.id);
      return v[0]?.state === "failed" ? v : null;
    });
    expect(d).toMatchObject({ type: "job.cancelled", attempts: 1, lastStatus: null });
    expect(d.lastError).toContain("192.168.7.7");
    await runnerFinished(prompt);
  });
});
