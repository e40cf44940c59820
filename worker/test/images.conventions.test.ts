/**
 * The conventions an app developer expects, in the Workers runtime: GET /v1/images (per account, newest first,
 * cursor pages), `Prefer: wait=N`, CORS for the configured origins with a preflight that needs no key, and links
 * that GET /v1/images/:id signs again once the old ones expired.
 */
import { describe, expect, it, vi } from "vitest";
import {
  account,
  api,
  body2x,
  expectJob,
  expectJson,
  type getJob,
  seedOf,
  setScenario,
  uniquePrompt,
  waitForStatus,
} from "./jobsHelpers";

const FUNDS = 1_000_000;

type Job = Awaited<ReturnType<typeof getJob>>;

async function create(key: string, label: string, headers: Record<string, string> = {}) {
  return api("POST", "/v1/images", { key, body: body2x(uniquePrompt(label), seedOf()), headers });
}

describe("GET /v1/images", () => {
  it("lists the account's own jobs newest first, in cursor pages", async () => {
    const mine = await account(FUNDS);
    const other = await account(FUNDS);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await expectJob(await create(mine.key, `list ${i}`), 202)).id);
      // Distinct acceptance times, so that "newest first" has one answer.
      await new Promise((r) => setTimeout(r, 5));
    }
    const theirs = (await expectJob(await create(other.key, "list other"), 202)).id;

    type Page = { object: string; data: Job[]; nextCursor: string | null };
    const first = await expectJson<Page>(await api("GET", "/v1/images?limit=2", { key: mine.key }), 200);
    expect(first.object).toBe("list");
    expect(first.data.map((j) => j.id)).toEqual([ids[2], ids[1]]);
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = await expectJson<Page>(
      await api("GET", `/v1/images?limit=2&cursor=${first.nextCursor}`, { key: mine.key }),
      200,
    );
    expect(second.data.map((j) => j.id)).toEqual([ids[0]]);
    expect(second.nextCursor).toBeNull();
    const all = await expectJson<Page>(await api("GET", "/v1/images", { key: other.key }), 200);
    expect(all.data.map((j) => j.id)).toEqual([theirs]);

    for (const bad of ["limit=0", "limit=101", "limit=x", "cursor=not-a-cursor", `cursor=${btoa("1.x")}`]) {
      const res = await api("GET", `/v1/images?${bad}`, { key: mine.key });
      expect(res.status, bad).toBe(400);
      await res.text();
    }
    expect((await api("GET", "/v1/images")).status).toBe(401);
    for (const id of [...ids, theirs]) await waitForStatus(id === theirs ? other.key : mine.key, id, ["succeeded"]);
  });
});

describe("Prefer: wait", () => {
  it("answers 200 with the finished job when it ends in time, and says so", async () => {
    const acct = await account(FUNDS);
    const res = await create(acct.key, "wait", { prefer: "wait=30" });
    const job = await expectJob(res, 200);
    expect(job.status).toBe("succeeded");
    expect(job.image?.url).toEqual(expect.any(String));
    expect(res.headers.get("preference-applied")).toBe("wait=30");
    expect(res.headers.get("location")).toBe(`/v1/images/${job.id}`);
  });

  it("answers 202 with the current state after N seconds, and clamps N to 60", async () => {
    const acct = await account(FUNDS);
    const prompt = uniquePrompt("wait-held");
    await setScenario(prompt, { attempts: { "1": { mode: "hold", afterPhase: 0 } } });
    const t0 = Date.now();
    const res = await api("POST", "/v1/images", {
      key: acct.key,
      body: body2x(prompt, seedOf()),
      headers: { prefer: "respond-async, wait=1" },
    });
    const job = await expectJob(res, 202);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(job.status).toBe("running");
    expect(res.headers.get("preference-applied")).toBe("wait=1");
    await api("DELETE", `/v1/images/${job.id}`, { key: acct.key });

    const long = await create(acct.key, "wait-long", { prefer: "wait=600" });
    expect(long.headers.get("preference-applied")).toBe("wait=60");
    expect((await expectJob(long, 200)).status).toBe("succeeded");
  });
});

describe("CORS", () => {
  const preflight = (origin: string, path = "/v1/images") =>
    api("OPTIONS", path, {
      headers: {
        origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type, idempotency-key",
      },
    });

  it("answers a listed origin's preflight without any key, and no other origin", async () => {
    const ok = await preflight("https://app.test");
    expect(ok.status).toBe(204);
    expect(ok.headers.get("access-control-allow-origin")).toBe("https://app.test");
    expect(ok.headers.get("access-control-allow-headers")).toMatch(/Authorization/);
    expect(ok.headers.get("access-control-allow-headers")).toMatch(/Idempotency-Key/);
    expect(ok.headers.get("access-control-allow-methods")).toMatch(/POST/);
    const stream = await preflight("https://web.test", `/v1/images/${"0".repeat(64)}/events`);
    expect(stream.headers.get("access-control-allow-origin")).toBe("https://web.test");
    const denied = await preflight("https://evil.test");
    expect(denied.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("lets a listed origin read the answer and its rate-limit headers; the key is still required", async () => {
    const acct = await account(FUNDS);
    const res = await api("GET", "/v1/usage", { key: acct.key, headers: { origin: "https://app.test" } });
    expect(res.status).toBe(200);
    await res.text();
    expect(res.headers.get("access-control-allow-origin")).toBe("https://app.test");
    expect(res.headers.get("access-control-expose-headers")).toMatch(/RateLimit-Remaining/);
    const anonymous = await api("GET", "/v1/usage", { headers: { origin: "https://app.test" } });
    expect(anonymous.status).toBe(401);
    await anonymous.text();
    expect(anonymous.headers.get("access-control-allow-origin")).toBe("https://app.test");
    const admin = await api("OPTIONS", "/admin/accounts", { headers: { origin: "https://app.test" } });
    expect(admin.headers.get("access-control-allow-origin")).toBeNull();
    await admin.text();
  });
});

describe("refreshable links", () => {
  it("GET /v1/images/:id signs the links again once the old ones expired", async () => {
    const acct = await account(FUNDS);
    const job = await expectJob(await create(acct.key, "resign"), 202);
    const done = await waitForStatus(acct.key, job.id, ["succeeded"]);
    const old = new URL(done.image!.url);
    expect((await api("GET", old.href)).status).toBe(200);
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      vi.setSystemTime(Date.now() + 16 * 60 * 1000);
      expect((await api("GET", old.href)).status).toBe(401);
      const again = await expectJob(await api("GET", `/v1/images/${job.id}`, { key: acct.key }), 200);
      const fresh = new URL(again.image!.url);
      expect(Number(fresh.searchParams.get("exp"))).toBeGreaterThan(Number(old.searchParams.get("exp")));
      const res = await api("GET", fresh.href);
      expect(res.status).toBe(200);
      expect(new Uint8Array(await res.arrayBuffer()).length).toBe(again.image!.bytes);
    } finally {
      vi.useRealTimers();
    }
  });
});
