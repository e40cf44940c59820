/**
 * Runner events are accepted only when signed, applied once and in order: forged, expired, replayed, duplicated,
 * reordered and misaddressed events change nothing (or exactly what the in-order sequence would).
 */
import { quote, renderPhases } from "@accdiff/shared";
import { describe, expect, it } from "vitest";
import {
  account,
  api,
  audit,
  body2x,
  expectJob,
  getJob,
  heldJob,
  postEvent,
  runnerLog,
  seedOf,
  setScenario,
  testEnv,
  uniquePrompt,
  waitForStatus,
} from "./jobsHelpers";

const FUNDS = 1_000_000;

const progress = (seq: number, percent = 10) => ({
  type: "progress",
  attempt: 1,
  seq,
  phase: 1,
  step: 1,
  steps: 4,
  percent,
});

describe("runner events", () => {
  it("refuses unsigned, forged and expired events without touching the job", async () => {
    const { acct, job } = await heldJob("forged");
    const before = await getJob(acct.key, job.id);
    const forged = await postEvent(job.id, progress(1), { secret: "not-the-runner-secret" });
    expect(forged.status).toBe(401);
    expect(forged.headers.get("content-type")).toBe("application/problem+json");
    const expired = await postEvent(job.id, progress(1), { now: Date.now() - 10 * 60 * 1000 });
    expect(expired.status).toBe(401);
    const unsigned = await api("POST", `/internal/jobs/${job.id}/events`, {
      body: JSON.stringify({ jobId: job.id, at: new Date().toISOString(), ...progress(1) }),
      headers: { "content-type": "application/json" },
    });
    expect(unsigned.status).toBe(401);
    // A valid signature over other bytes (body swapped in transit) is a forgery too.
    const path = `/internal/jobs/${job.id}/events`;
    const real = await postEvent(job.id, progress(1, 20));
    expect(real.status).toBe(200);
    const { signRequest } = await import("@accdiff/shared");
    const headers = await signRequest(testEnv.RUNNER_SECRET, { method: "POST", path, body: "{}" });
    const swapped = await api("POST", path, {
      body: JSON.stringify({ jobId: job.id, at: new Date().toISOString(), ...progress(2, 99) }),
      headers: { "content-type": "application/json", ...headers },
    });
    expect(swapped.status).toBe(401);
    const after = await getJob(acct.key, job.id);
    expect(after.progress.percent).toBe(20);
    expect(before.status).toBe("running");
    await api("DELETE", `/v1/images/${job.id}`, { key: acct.key });
  });

  it("a replayed request is refused; a re-sent event (new nonce) is acknowledged and ignored", async () => {
    const { acct, job } = await heldJob("replay");
    const nonce = crypto.randomUUID().replace(/-/g, "");
    const first = await postEvent(job.id, progress(1, 30), { nonce });
    expect(await first.json()).toMatchObject({ result: "applied", status: "running" });
    const replay = await postEvent(job.id, progress(1, 30), { nonce });
    expect(replay.status).toBe(401);
    const resend = await postEvent(job.id, progress(1, 99));
    expect(resend.status).toBe(200);
    expect(await resend.json()).toMatchObject({ result: "duplicate" });
    expect((await getJob(acct.key, job.id)).progress.percent).toBe(30);
    await api("DELETE", `/v1/images/${job.id}`, { key: acct.key });
  });

  it("buffers early events and applies them in sequence order", async () => {
    const { acct, job } = await heldJob("reorder-manual");
    const r3 = await postEvent(job.id, progress(3, 60));
    expect(r3.status).toBe(202);
    expect(await r3.json()).toMatchObject({ result: "buffered" });
    const r2 = await postEvent(job.id, progress(2, 40));
    expect(r2.status).toBe(202);
    expect((await getJob(acct.key, job.id)).progress.percent).toBe(0);
    const r1 = await postEvent(job.id, progress(1, 20));
    expect(await r1.json()).toMatchObject({ result: "applied" });
    // 1, 2, 3 applied in order: the last one wins.
    expect((await getJob(acct.key, job.id)).progress.percent).toBe(60);
    const far = await postEvent(job.id, progress(10_000));
    expect(far.status).toBe(503);
    await api("DELETE", `/v1/images/${job.id}`, { key: acct.key });
  });

  it("refuses events of an attempt that was never dispatched, of another job, or for no job", async () => {
    const { acct, job } = await heldJob("misaddressed");
    const future = await postEvent(job.id, { ...progress(1), attempt: 2 });
    expect(future.status).toBe(409);
    const path = `/internal/jobs/${job.id}/events`;
    const { signRequest } = await import("@accdiff/shared");
    const other = testEnv.JOBS.newUniqueId().toString();
    const body = JSON.stringify({ jobId: other, at: new Date().toISOString(), ...progress(1) });
    const mismatch = await api("POST", path, {
      body,
      headers: {
        "content-type": "application/json",
        ...(await signRequest(testEnv.RUNNER_SECRET, { method: "POST", path, body })),
      },
    });
    expect(mismatch.status).toBe(400);
    expect((await postEvent(other, progress(1))).status).toBe(404);
    expect((await postEvent("0".repeat(64), progress(1))).status).toBe(404);
    const invalid = await postEvent(job.id, {
      type: "progress",
      attempt: 1,
      seq: 1,
      phase: 0,
      step: -1,
      steps: 0,
      percent: 900,
    });
    expect(invalid.status).toBe(422);
    expect((await invalid.json()) as { errors: unknown[] }).toMatchObject({ errors: expect.any(Array) });
    expect((await getJob(acct.key, job.id)).progress.percent).toBe(0);
    await api("DELETE", `/v1/images/${job.id}`, { key: acct.key });
  });

  it("refuses forged and misdirected uploads, storing nothing", async () => {
    const { acct, job } = await heldJob("uploads");
    const path = `/internal/jobs/${job.id}/attempts/1/artifacts/final_image/evil.png`;
    const body = new Uint8Array([1, 2, 3]);
    const { signRequest } = await import("@accdiff/shared");
    const forged = await api("PUT", path, { body, headers: await signRequest("wrong", { method: "PUT", path, body }) });
    expect(forged.status).toBe(401);
    const stalePath = `/internal/jobs/${job.id}/attempts/7/artifacts/final_image/evil.png`;
    const stale = await api("PUT", stalePath, {
      body,
      headers: await signRequest(testEnv.RUNNER_SECRET, { method: "PUT", path: stalePath, body }),
    });
    expect(stale.status).toBe(410);
    const badKind = `/internal/jobs/${job.id}/attempts/1/artifacts/passwords/evil.png`;
    const kind = await api("PUT", badKind, {
      body,
      headers: await signRequest(testEnv.RUNNER_SECRET, { method: "PUT", path: badKind, body }),
    });
    expect(kind.status).toBe(400);
    const listed = await testEnv.IMAGES.list({ prefix: `jobs/${job.id}/` });
    expect(listed.objects).toHaveLength(0);
    // An artifact event whose upload is missing is recorded as a warning, never as a file.
    const ghost = await postEvent(job.id, {
      type: "artifact",
      attempt: 1,
      seq: 1,
      kind: "final_image",
      key: "final_image/evil.png",
      contentType: "image/png",
      bytes: 3,
      sha256: "a".repeat(64),
    });
    expect(ghost.status).toBe(200);
    const after = await getJob(acct.key, job.id);
    expect(after.files).toHaveLength(0);
    expect(after.warnings.join(" ")).toContain("upload is missing");
    await api("DELETE", `/v1/images/${job.id}`, { key: acct.key });
  });

  for (const delivery of ["reversed", "shuffled", "duplicated"] as const) {
    it(`a runner delivering its events ${delivery} ends the job exactly as in order`, async () => {
      const acct = await account(FUNDS);
      const prompt = uniquePrompt(`delivery ${delivery}`);
      await setScenario(prompt, { attempts: { "1": { mode: "complete", delivery } } });
      const job = await expectJob(
        await api("POST", "/v1/images", { key: acct.key, body: body2x(prompt, seedOf()) }),
        202,
      );
      const done = await waitForStatus(acct.key, job.id, ["succeeded", "failed"]);
      expect(done.status).toBe("succeeded");
      expect(done.progress.phasesDone).toEqual([1, 2]);
      expect(done.files.filter((f) => f.kind === "phase_image")).toHaveLength(1);
      const price = quote(renderPhases(done.request, 64), []).price;
      expect(done.billing).toEqual({ state: "captured", reserved: price, charged: price });
      const log = await runnerLog(prompt);
      const statuses = log.jobs[0].deliveries.map((d) => d.status);
      if (delivery === "reversed") expect(statuses.slice(0, -1).every((s) => s === 202)).toBe(true);
      if (delivery === "duplicated") expect(statuses.filter((s) => s === 200)).toHaveLength(statuses.length);
      expect(await audit(acct.id)).toMatchObject({ balance: FUNDS - price, reserved: 0 });
      // A duplicate callback after completion changes nothing.
      const late = await postEvent(job.id, {
        type: "completed",
        attempt: 1,
        seq: 9999,
        width: 128,
        height: 128,
        phasesComputed: [1, 2],
        modelEvaluations: {},
        timingsMs: {},
        warnings: [],
      });
      expect(await late.json()).toMatchObject({ result: "ignored", status: "succeeded" });
      expect(await audit(acct.id)).toMatchObject({ balance: FUNDS - price, reserved: 0 });
    });
  }
});
