/**
 * The Replicate backend against a fake Replicate API on loopback: predictions created with the official client (a
 * webhook and its event filter), webhooks verified (Standard Webhooks signatures), statuses mapped onto ours, outputs
 * copied to R2, billing as for runners.
 */
import { quote, RunnerJobSchema, renderPhases } from "@accdiff/shared";
import { describe, expect, it } from "vitest";
import {
  account,
  api,
  audit,
  body2x,
  expectJob,
  expireLease,
  FAKE,
  getJob,
  seedOf,
  setReplicateScenario,
  uniquePrompt,
  waitFor,
  waitForStatus,
} from "./jobsHelpers";

const FUNDS = 1_000_000;
const viaReplicate = { DISPATCH_BACKEND: "replicate" as const };

interface ReplicateLog {
  predictions: { id: string; input: { job: string }; status: string }[];
  created: { path: string; body: { webhook: string; webhook_events_filter: string[]; input: { job: string } } }[];
  cancels: string[];
  webhookResponses: { id: string; status: string; http: number }[];
}

async function replicateLog(prompt: string): Promise<ReplicateLog> {
  const all = (await (await fetch(`${FAKE}/_control/replicate`)).json()) as ReplicateLog;
  const mine = (job: string) => (JSON.parse(job) as { params: { prompt: string } }).params.prompt === prompt;
  const predictions = all.predictions.filter((p) => mine(p.input.job));
  const ids = new Set(predictions.map((p) => p.id));
  return {
    predictions,
    created: all.created.filter((c) => mine(c.body.input.job)),
    cancels: all.cancels.filter((id) => ids.has(id)),
    webhookResponses: all.webhookResponses.filter((w) => ids.has(w.id)),
  };
}

async function submit(key: string, prompt: string) {
  return expectJob(
    await api("POST", "/v1/images", { key, body: body2x(prompt, seedOf()), envOverride: viaReplicate }),
    202,
  );
}

describe("replicate backend", () => {
  it("creates a prediction with a webhook, follows the signed webhooks, stores the output and bills once", async () => {
    const acct = await account(FUNDS);
    const prompt = uniquePrompt("replicate ok");
    const job = await submit(acct.key, prompt);
    const done = await waitForStatus(acct.key, job.id, ["succeeded", "failed"]);
    expect(done.status).toBe("succeeded");
    const log = await replicateLog(prompt);
    expect(log.created).toHaveLength(1);
    const created = log.created[0];
    expect(created.path).toBe("/replicate/v1/models/accdiff/accdiffusion-v2/predictions");
    expect(created.body.webhook).toMatch(new RegExp(`/internal/replicate/${job.id}\\?attempt=1$`));
    expect(created.body.webhook_events_filter).toEqual(["start", "logs", "completed"]);
    const runnerJob = RunnerJobSchema.parse(JSON.parse(created.body.input.job));
    expect(runnerJob).toMatchObject({ jobId: job.id, attempt: 1 });
    expect(log.webhookResponses.map((w) => [w.status, w.http])).toEqual([
      ["processing", 200],
      ["processing", 200],
      ["succeeded", 200],
    ]);
    expect(done.image).toMatchObject({ width: 96, height: 96, contentType: "image/png", source: "computed" });
    const file = await api("GET", done.image!.url);
    expect(file.status).toBe(200);
    expect((await file.arrayBuffer()).byteLength).toBe(done.image?.bytes);
    const price = quote(renderPhases(done.request, 64), []).price;
    expect(done.billing).toEqual({ state: "captured", reserved: price, charged: price });
    expect(await audit(acct.id)).toMatchObject({ balance: FUNDS - price, reserved: 0 });
  });

  it("applies a webhook delivered twice once", async () => {
    const acct = await account(FUNDS);
    const prompt = uniquePrompt("replicate dup");
    await setReplicateScenario(prompt, { duplicateWebhooks: true });
    const job = await submit(acct.key, prompt);
    const done = await waitForStatus(acct.key, job.id, ["succeeded", "failed"]);
    expect(done.status).toBe("succeeded");
    await waitFor("all deliveries", async () => (await replicateLog(prompt)).webhookResponses.length === 6);
    expect((await replicateLog(prompt)).webhookResponses.every((w) => w.http === 200)).toBe(true);
    expect(done.files.filter((f) => f.kind === "final_image")).toHaveLength(1);
    expect(await audit(acct.id)).toMatchObject({ balance: FUNDS - done.quote.price, reserved: 0 });
  });

  it("refuses forged webhooks; the job waits, and a cancel stops the prediction and charges nothing", async () => {
    const acct = await account(FUNDS);
    const prompt = uniquePrompt("replicate forged");
    await setReplicateScenario(prompt, { forgeSignatures: true });
    const job = await submit(acct.key, prompt);
    await waitFor("forged deliveries", async () => (await replicateLog(prompt)).webhookResponses.length === 3);
    const log = await replicateLog(prompt);
    expect(log.webhookResponses.every((w) => w.http === 401)).toBe(true);
    expect((await getJob(acct.key, job.id)).status).toBe("queued");
    const cancelled = await expectJob(await api("DELETE", `/v1/images/${job.id}`, { key: acct.key }), 200);
    expect(cancelled.billing.state).toBe("released");
    await waitFor("prediction cancelled", async () => (await replicateLog(prompt)).cancels.length === 1);
    expect(await audit(acct.id)).toMatchObject({ balance: FUNDS, reserved: 0 });
  });

  it("asks Replicate when the lease runs out without webhooks, and applies what it answers", async () => {
    const acct = await account(FUNDS);
    const prompt = uniquePrompt("replicate lost webhooks");
    await setReplicateScenario(prompt, { dropWebhooks: true });
    const job = await submit(acct.key, prompt);
    await waitFor("prediction done", async () => (await replicateLog(prompt)).predictions[0]?.status === "succeeded");
    expect((await getJob(acct.key, job.id)).status).toBe("queued");
    await expireLease(job.id);
    const done = await waitForStatus(acct.key, job.id, ["succeeded", "failed"]);
    expect(done.status).toBe("succeeded");
    expect(done.attempt).toBe(1);
    expect((await replicateLog(prompt)).created).toHaveLength(1);
    expect(await audit(acct.id)).toMatchObject({ balance: FUNDS - done.quote.price, reserved: 0 });
  });

  it("maps a failed prediction to a failed job and releases the reservation", async () => {
    const acct = await account(FUNDS);
    const prompt = uniquePrompt("replicate failed");
    await setReplicateScenario(prompt, { outcome: "failed" });
    const job = await submit(acct.key, prompt);
    const done = await waitForStatus(acct.key, job.id, ["succeeded", "failed"]);
    expect(done.status).toBe("failed");
    expect(done.error).toMatchObject({ code: "out_of_memory", retryable: false });
    expect(done.error?.message).not.toContain("CUDA");
    expect(done.debug?.reason).toContain("CUDA out of memory");
    expect(await audit(acct.id)).toMatchObject({ balance: FUNDS, reserved: 0 });
  });

  it("dispatches again when the predictor reports a dead runner (retryable), and bills once", async () => {
    const acct = await account(FUNDS);
    const prompt = uniquePrompt("replicate retryable");
    await setReplicateScenario(prompt, { retryableFailures: 1 });
    const job = await submit(acct.key, prompt);
    const done = await waitForStatus(acct.key, job.id, ["succeeded", "failed"]);
    expect(done.status).toBe("succeeded");
    expect(done.attempt).toBe(2);
    expect(done.warnings.join(" ")).toContain("the runner exited (137)");
    const log = await replicateLog(prompt);
    expect(log.created.map((c) => c.body.webhook.replace(/^.*attempt=/, ""))).toEqual(["1", "2"]);
    expect(await audit(acct.id)).toMatchObject({ balance: FUNDS - done.quote.price, reserved: 0 });
  });
});
