/** Idempotency-Key: the same key and body give the same job (one dispatch, one hold); another body gets 409. */
import { describe, expect, it } from "vitest";
import {
  account,
  api,
  audit,
  body2x,
  expectJob,
  expectJson,
  releaseHold,
  runnerLog,
  seedOf,
  setScenario,
  uniquePrompt,
  waitForStatus,
} from "./jobsHelpers";

const FUNDS = 1_000_000;

describe("Idempotency-Key", () => {
  it("retries (even concurrent ones) of the same request return the same job, dispatched and billed once", async () => {
    const acct = await account(FUNDS);
    const prompt = uniquePrompt("idempotent");
    await setScenario(prompt, { attempts: { "1": { mode: "hold", afterPhase: 1 } } });
    // No seed: the first request draws one; retries must not draw another (and so must not make another job).
    const body = { prompt, width: 128, height: 128, steps: 4 };
    const headers = { "idempotency-key": `order-${crypto.randomUUID()}` };
    const responses = await Promise.all(
      Array.from({ length: 5 }, () => api("POST", "/v1/images", { key: acct.key, body, headers })),
    );
    const jobs = await Promise.all(responses.map((r) => expectJob(r, 202)));
    expect(new Set(jobs.map((j) => j.id)).size).toBe(1);
    expect(new Set(jobs.map((j) => j.request.seed)).size).toBe(1);
    expect(responses.filter((r) => r.headers.get("idempotent-replayed") === "true")).toHaveLength(4);
    const books = await audit(acct.id);
    expect(books.reserved).toBe(jobs[0].quote.price);

    // A different body under the same key is a conflict, and changes nothing.
    const conflict = await api("POST", "/v1/images", {
      key: acct.key,
      body: { ...body, width: 192, height: 192 },
      headers,
    });
    const problem = await expectJson<{ title: string }>(conflict, 409);
    expect(problem.title).toBe("Idempotency key reused");

    await releaseHold(jobs[0].id);
    const done = await waitForStatus(acct.key, jobs[0].id, ["succeeded", "failed"]);
    expect(done.status).toBe("succeeded");
    // After completion the same retry still answers the same (finished) job, with 200.
    const later = await api("POST", "/v1/images", { key: acct.key, body, headers });
    expect((await expectJob(later, 200)).id).toBe(done.id);
    expect((await runnerLog(prompt)).jobs).toHaveLength(1);
    expect(await audit(acct.id)).toMatchObject({ balance: FUNDS - done.quote.price, reserved: 0 });
  });

  it("keys are per account, and requests without a key are distinct jobs", async () => {
    const a = await account(FUNDS);
    const b = await account(FUNDS);
    const prompt = uniquePrompt("per account");
    const seed = seedOf();
    const headers = { "idempotency-key": "shared-key" };
    const ja = await expectJob(
      await api("POST", "/v1/images", { key: a.key, body: body2x(prompt, seed), headers }),
      202,
    );
    const jb = await api("POST", "/v1/images", { key: b.key, body: body2x(prompt, seed), headers });
    expect([200, 202]).toContain(jb.status);
    expect((await jb.json()) as { id: string }).not.toMatchObject({ id: ja.id });
    const bad = await api("POST", "/v1/images", {
      key: a.key,
      body: body2x(prompt, seed),
      headers: { "idempotency-key": "x".repeat(300) },
    });
    expect(bad.status).toBe(400);
    await waitForStatus(a.key, ja.id, ["succeeded", "failed"]);
  });
});
