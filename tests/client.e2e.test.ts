/**
 * The demo flow driven by @accdiff/client alone, as an app would (only the operator's account setup uses plain
 * fetch on the admin API): quote, submit 4x with an idempotency key, follow it over SSE with an EventSource, download
 * its files, then 2x and 3x answered from the cache, a retry of the same submission, a render followed by polling,
 * the gallery list and the ledger. Every response the client receives is checked against /openapi.json.
 */
import { AccdiffClient, type Job } from "@accdiff/client";
import { EventSource } from "eventsource";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeImage } from "../gpu-runner/src/images/encode";
import { contractAt, type OpenApiContract, responseRecord } from "./contract/openapi";
import { type Stack, startStack } from "./demo/stack";

const PROMPT = "a cat and a dog are playing on the lawn";
const STEPS = 3;
const SEED = 7;

let stack: Stack;
let contract: OpenApiContract;
let client: AccdiffClient;
let checked = 0;

/** fetch that fails the test on any response the public document does not promise. */
const conformingFetch: typeof fetch = async (input, init) => {
  const req = new Request(input, init);
  const res = await fetch(req);
  const errors = contract.check(await responseRecord(req.method, req.url, res));
  if (errors.length > 0) throw new Error(`not as documented:\n  ${errors.join("\n  ")}`);
  checked++;
  return res;
};

async function admin(path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(new URL(path, stack.workerUrl), {
    method: "POST",
    headers: { authorization: `Bearer ${stack.adminToken}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

beforeAll(async () => {
  stack = await startStack();
  contract = await contractAt(`${stack.workerUrl}/openapi.json`, "public");
  const account = await admin("/admin/accounts", { name: "client e2e" });
  await admin(`/admin/accounts/${account.id}/credit`, { amount: 5_000_000, reference: "client-e2e" });
  const { key } = await admin(`/admin/accounts/${account.id}/keys`, { name: "app" });
  client = new AccdiffClient({ baseUrl: stack.workerUrl, apiKey: String(key), fetch: conformingFetch, EventSource });
}, 240_000);

afterAll(async () => {
  await stack?.stop();
});

describe("@accdiff/client drives the demo flow", () => {
  let first: Job;
  const base = () => stack.bundle.baseResolution;
  const request = (scale: number, seed = SEED) => ({
    prompt: PROMPT,
    width: base() * scale,
    height: base() * scale,
    seed,
    steps: STEPS,
  });

  it("quotes, submits 4x, follows it over SSE and downloads every phase image", async () => {
    const quote = await client.api.GET("/v1/quote", {
      params: { query: { ...request(4), "switches.controlnet": true } },
    });
    expect(quote.data?.phases).toEqual([1, 2, 3, 4]);
    expect(quote.data?.lines.every((l) => !l.cached)).toBe(true);

    const submitted = await client.submit(request(4), { idempotencyKey: "client-e2e-4x" });
    expect(submitted.status).toBe(202);
    expect(submitted.job.quote.price).toBe(quote.data?.price);
    const seen: Job[] = [];
    first = await client.follow(submitted.job, { transport: "sse", onProgress: (j) => seen.push(j) });
    expect(first.status).toBe("succeeded");
    expect(seen.length).toBeGreaterThan(1);
    const percents = seen.map((j) => j.progress.percent);
    expect([...percents].sort((a, b) => a - b)).toEqual(percents);

    for (const file of first.phaseImages) {
      const png = await decodeImage(await client.download(first, file));
      expect([png.width, png.height]).toEqual([file.width, file.height]);
    }
    const image = await decodeImage(await client.download(first, first.image!));
    expect(image.width).toBe(base() * 4);
  }, 240_000);

  it("answers 2x and 3x from the cache, and the same submission again with the same job", async () => {
    for (const scale of [2, 3]) {
      const { status, job } = await client.submit(request(scale));
      expect(status).toBe(200);
      expect(job).toMatchObject({ status: "succeeded", dispatched: false });
      expect(await client.follow(job)).toBe(job);
    }
    const again = await client.submit(request(4), { idempotencyKey: "client-e2e-4x" });
    expect(again.status).toBe(200);
    expect(again.job.id).toBe(first.id);
  });

  it("follows by polling where there is no event stream, and lists the gallery newest first", async () => {
    const { job } = await client.submit(request(2, SEED + 1));
    const done = await client.follow(job, { transport: "poll", pollMs: 250 });
    expect(done.status).toBe("succeeded");
    const list = await client.api.GET("/v1/images", { params: { query: { limit: 10 } } });
    const ids = list.data?.data.map((j) => j.id) ?? [];
    expect(ids[0]).toBe(done.id);
    expect(ids).toContain(first.id);
    const usage = await client.api.GET("/v1/usage", { params: { query: { limit: 50 } } });
    const captured = usage.data?.ledger.entries.filter((e) => e.kind === "capture").map((e) => e.jobId) ?? [];
    expect(captured).toEqual(expect.arrayContaining([first.id, done.id]));
    expect(usage.data?.reserved).toBe(0);
    expect(checked).toBeGreaterThan(10);
  }, 120_000);
});
