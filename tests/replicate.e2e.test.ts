/**
 * End to end on loopback, the Replicate way: the worker (local Workers runtime, DISPATCH_BACKEND=replicate) creates
 * a prediction on a fake of Replicate's API (tests/replicate/fakeReplicate.ts), which runs it on the repository's
 * Cog predictor (gpu-runner/cog/predict.py, with a stand-in of the `cog` module: Cog cannot be installed here) around
 * a real `accdiff serve` on the toy world, and reports back through signed start / logs / completed webhooks — the
 * worker's existing Replicate webhook path. The demo job (the demo's prompt at 4x) renders through it; the client's
 * own webhook then arrives signed (verified with the `standardwebhooks` package), is retried after a 500 with the
 * same id, and a webhook to a private address is refused.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeImage } from "../gpu-runner/src/images/encode";
import { ensureToyWorld } from "../gpu-runner/src/toyworld/index";
import { Api, type JobView } from "./demo/api";
import { DEMO_PROMPT } from "./demo/flow";
import { followJob } from "./demo/follow";
import { readBundleFacts } from "./demo/stack";
import { startWorkerDev, type WorkerDev } from "./demo/workerDev";
import { FakeReplicate } from "./replicate/fakeReplicate";

const STEPS = 5;
const SEED = 99;
const BASE = 512;
const secret = (label: string) => `${label}-${randomBytes(24).toString("hex")}`;
const WEBHOOK_SECRET = `whsec_${randomBytes(32).toString("base64")}`;
const TOKEN = `r8_${randomBytes(12).toString("hex")}`;

interface Received {
  headers: Record<string, string>;
  body: string;
  status: number;
}

/** The client's webhook receiver: answers 500 to the first delivery, 204 after. */
async function startReceiver(): Promise<{ url: string; got: Received[]; server: Server }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const status = got.length === 0 ? 500 : 204;
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers[k] = v;
      got.push({ headers, body: Buffer.concat(chunks).toString("utf8"), status });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/accdiff`, got, server };
}

let replicate: FakeReplicate;
let worker: WorkerDev;
let persistDir: string;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let api: Api;
let clientSecret: string;
let done: JobView;
const views: JobView[] = [];

beforeAll(async () => {
  const bundle = await readBundleFacts(await ensureToyWorld());
  replicate = new FakeReplicate({
    token: TOKEN,
    webhookSecret: WEBHOOK_SECRET,
    env: { PROVIDER: "cpu", BUNDLE_DIR: bundle.dir },
  });
  await replicate.start();
  persistDir = await mkdtemp(join(tmpdir(), "accdiff-e2e-replicate-"));
  const adminToken = secret("admin");
  worker = await startWorkerDev({
    runnerUrls: [],
    bundleId: bundle.name,
    bundleHash: bundle.hash,
    baseResolution: bundle.baseResolution,
    adminToken,
    runnerSecret: secret("runner"),
    urlSigningSecret: secret("urls"),
    persistDir,
    vars: {
      DISPATCH_BACKEND: "replicate",
      REPLICATE_API_BASE: `${replicate.url}/v1`,
      REPLICATE_API_TOKEN: TOKEN,
      REPLICATE_MODEL: "accdiff/accdiff-runner",
      REPLICATE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      // The local-dev webhook policy (loopback receivers), with a quick retry.
      LOCAL_DEV: "true",
      WEBHOOK_RETRY_SECONDS: "1,1",
    },
  });
  receiver = await startReceiver();
  const admin = new Api(worker.url, adminToken);
  const account = await admin.createAccount("e2e replicate");
  await admin.credit(account, 10_000_000, "e2e");
  api = admin.as(await admin.issueKey(account, "e2e"));
  clientSecret = (await api.json<{ secret: string }>("POST", "/v1/webhooks/secret", [201])).body.secret;
  const body = {
    prompt: DEMO_PROMPT,
    width: 4 * BASE,
    height: 4 * BASE,
    seed: SEED,
    steps: STEPS,
    webhook: receiver.url,
  };
  const { status, job } = await api.submit(body, "replicate-4x");
  expect(status).toBe(202);
  done = await followJob(api, job.id, { timeoutMs: 240_000, onView: (v) => views.push(v) });
}, 290_000);

afterAll(async () => {
  await worker?.stop();
  await replicate?.stop();
  await new Promise<void>((r) => (receiver ? receiver.server.close(() => r()) : r()));
  if (persistDir) await rm(persistDir, { recursive: true, force: true });
}, 60_000);

describe("the Replicate path with the Cog predictor", () => {
  it("renders the demo job at 4x through a prediction and its webhooks", async () => {
    expect(done.status, JSON.stringify(done.error)).toBe("succeeded");
    expect(done.attempt).toBe(1);
    expect(replicate.created).toHaveLength(1);
    const created = replicate.created[0];
    expect(created.path).toBe("/v1/models/accdiff/accdiff-runner/predictions");
    expect(created.body.webhook).toBe(`${worker.url}/internal/replicate/${done.id}?attempt=1`);
    expect(created.body.webhook_events_filter).toEqual(["start", "logs", "completed"]);
    const [p] = replicate.predictions;
    expect(p.status).toBe("succeeded");
    const sent = replicate.webhooks.filter((w) => w.prediction === p.id);
    expect(sent[0]).toMatchObject({ event: "start", http: 200 });
    expect(sent.filter((w) => w.event === "logs").length).toBeGreaterThan(0);
    expect(sent[sent.length - 1]).toMatchObject({ event: "completed", status: "succeeded", http: 200 });
    expect(sent.every((w) => w.http === 200)).toBe(true);
    // The predictor's progress lines reached the job through the `logs` webhooks.
    expect(p.logs).toMatch(/^\s*\d+%\|.*\| \d+\/\d+ \[phase 4\]$/m);
    expect(views.some((v) => v.status === "running" && v.progress.phase !== null && v.progress.step !== null)).toBe(
      true,
    );
    expect(done.result?.phasesComputed).toEqual([1, 2, 3, 4]);
    expect(Object.keys(done.result?.modelEvaluations ?? {})).toEqual(["1", "2", "3", "4"]);
    expect(done.billing).toEqual({ state: "captured", reserved: done.quote.price, charged: done.quote.price });
  });

  it("stores the final image and every phase's image at their sizes", async () => {
    expect(done.phaseImages.map((f) => f.phase)).toEqual([1, 2, 3, 4]);
    for (const f of [...done.phaseImages, done.image!]) {
      const bytes = await api.download(f.url);
      expect(createHash("sha256").update(bytes).digest("hex"), f.name).toBe(f.sha256);
      const rgb = await decodeImage(bytes);
      const side = f.kind === "final_image" ? 4 * BASE : BASE * (f.phase ?? 1);
      expect([rgb.width, rgb.height], f.name).toEqual([side, side]);
    }
  });
});

describe("client webhooks end to end", () => {
  it("arrives signed and verified, retried after a 500 with the same id", async () => {
    const deadline = Date.now() + 30_000;
    while (receiver.got.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const got = receiver.got;
    expect(got.map((r) => r.status)).toEqual([500, 204]);
    expect(got[1].headers["webhook-id"]).toBe(got[0].headers["webhook-id"]);
    const wh = new Webhook(clientSecret);
    for (const r of got) {
      const payload = wh.verify(r.body, r.headers) as { type: string; data: { job: { id: string; status: string } } };
      expect(payload).toMatchObject({ type: "job.completed", data: { job: { id: done.id, status: "succeeded" } } });
    }
    expect(() =>
      new Webhook(`whsec_${randomBytes(32).toString("base64")}`).verify(got[1].body, got[1].headers),
    ).toThrow();
  });

  it("is refused for a private or link-local address", async () => {
    for (const hook of ["https://10.0.0.7/hook", "https://192.168.1.20/hook", "https://169.254.169.254/hook"]) {
      const res = await api.call("POST", "/v1/images", {
        prompt: DEMO_PROMPT,
        width: BASE,
        height: BASE,
        steps: 1,
        webhook: hook,
      });
      expect(res.status, hook).toBe(422);
      const problem = (await res.json()) as { errors: { path: string; message: string }[] };
      expect(problem.errors[0]).toMatchObject({ path: "webhook" });
      expect(problem.errors[0].message, hook).toMatch(/private|link-local/);
    }
    expect(replicate.created).toHaveLength(1);
  });
});

describe("cancel through Replicate", () => {
  it("a DELETE cancels the prediction, which cancels the job at the runner", async () => {
    const body = { prompt: DEMO_PROMPT, width: 4 * BASE, height: 4 * BASE, seed: SEED + 1, steps: STEPS };
    const { status, job } = await api.submit(body, "replicate-cancel");
    expect(status).toBe(202);
    const deadline = Date.now() + 120_000;
    for (;;) {
      const v = await api.job(job.id);
      if (v.status === "running" && v.progress.step !== null) break;
      if (Date.now() > deadline) throw new Error(`job ${job.id} did not start in time (${v.status})`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const cancelled = (await api.json<JobView>("DELETE", `/v1/images/${job.id}`, [200])).body;
    expect(cancelled.status).toBe("cancelled");
    const p = replicate.predictions[replicate.predictions.length - 1];
    expect(JSON.parse(String(p.input.job)).jobId).toBe(job.id);
    const until = Date.now() + 60_000;
    while (p.status !== "canceled" && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    // Replicate cancelled the running prediction (predict.py then cancels the job at its runner: gpu-runner/cog/tests).
    expect(p.status).toBe("canceled");
    expect(replicate.cancels).toContain(p.id);
    expect(p.output).toBeNull();
    const after = await api.job(job.id);
    expect(after.status).toBe("cancelled");
    expect(after.billing.charged).toBeLessThan(after.quote.price);
  });
});
