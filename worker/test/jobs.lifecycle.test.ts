/** The full job lifecycle against the loopback fake runner: accept, dispatch, events, artifacts, billing, downloads. */
import { PRICE_TABLE, quote, renderPhases } from "@accdiff/shared";
import { describe, expect, it } from "vitest";
import {
  account,
  api,
  audit,
  body2x,
  body4x,
  expectJob,
  expectJson,
  getJob,
  runnerLog,
  seedOf,
  testEnv,
  uniquePrompt,
  waitForStatus,
} from "./jobsHelpers";

const FUNDS = 1_000_000;

describe("job lifecycle", () => {
  it("accepts, dispatches, follows the runner's events and bills the quote once", async () => {
    const acct = await account(FUNDS);
    const prompt = uniquePrompt("a cat and a dog are playing on the lawn");
    const res = await api("POST", "/v1/images", { key: acct.key, body: body4x(prompt, seedOf()) });
    expect(res.headers.get("ratelimit-limit")).not.toBeNull();
    const job = await expectJob(res, 202);
    expect(res.headers.get("location")).toBe(`/v1/images/${job.id}`);
    expect(job.status).toBe("queued");
    expect(job.phases).toEqual([1, 2, 3, 4]);
    expect(job.cache).toEqual({
      phase1: "miss",
      phasesServed: [],
      phasesComputed: [1, 2, 3, 4],
      patchPromptsRecomputed: false,
    });
    const expected = quote(renderPhases(job.request, 64), []);
    expect(job.quote).toEqual(expected);
    expect(job.billing).toEqual({ state: "reserved", reserved: expected.price, charged: 0 });
    expect(job.links.self).toBe(`${testEnv.PUBLIC_BASE_URL}/v1/images/${job.id}`);

    const done = await waitForStatus(acct.key, job.id, ["succeeded", "failed"]);
    expect(done.status).toBe("succeeded");
    expect(done.error).toBeNull();
    expect(done.progress.percent).toBe(100);
    expect(done.progress.phasesDone).toEqual([1, 2, 3, 4]);
    expect(done.result?.phasesComputed).toEqual([1, 2, 3, 4]);
    expect(done.billing).toEqual({ state: "captured", reserved: expected.price, charged: expected.price });
    expect(done.preview).toMatchObject({ name: "preview.png", width: 64, height: 64 });
    expect(done.image).toMatchObject({ name: "image.png", width: 256, height: 256, contentType: "image/png" });
    expect(done.phaseImages.map((f) => [f.phase, f.width])).toEqual([
      [1, 64],
      [2, 128],
      [3, 192],
      [4, 256],
    ]);

    // One dispatch, signed and well-formed, with callback and upload URLs on the worker's loopback socket.
    const log = await runnerLog(prompt);
    expect(log.jobs).toHaveLength(1);
    const [rj] = log.jobs;
    expect(rj.job).toMatchObject({ jobId: job.id, attempt: 1, bundleId: "toy-test" });
    expect(rj.job.resume).toBeUndefined();
    expect(rj.deliveries.every((d) => d.status === 200)).toBe(true);
    expect(rj.uploads.every((u) => u.status === 201)).toBe(true);

    const books = await audit(acct.id);
    expect(books.balance).toBe(FUNDS - expected.price);
    expect(books.reserved).toBe(0);
  });

  it("serves the final image with ETag, immutable caching, Range and conditional GET", async () => {
    const acct = await account(FUNDS);
    const job = await expectJob(
      await api("POST", "/v1/images", { key: acct.key, body: body2x(uniquePrompt("dl"), seedOf()) }),
      202,
    );
    const done = await waitForStatus(acct.key, job.id, ["succeeded"]);
    const path = `/v1/images/${job.id}/files/image.png`;
    const full = await api("GET", path, { key: acct.key });
    expect(full.status).toBe(200);
    const bytes = new Uint8Array(await full.arrayBuffer());
    expect(bytes.byteLength).toBe(done.image?.bytes);
    expect(done.image).toMatchObject({ width: 128, height: 128 });
    expect(Array.from(bytes.slice(1, 4), (b) => String.fromCharCode(b)).join("")).toBe("PNG");
    const etag = full.headers.get("etag");
    expect(etag).toBe(`"${done.image?.sha256}"`);
    expect(full.headers.get("cache-control")).toContain("immutable");
    expect(full.headers.get("content-type")).toBe("image/png");

    const part = await api("GET", path, { key: acct.key, headers: { range: "bytes=0-7" } });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe(`bytes 0-7/${bytes.byteLength}`);
    expect(new Uint8Array(await part.arrayBuffer())).toEqual(bytes.slice(0, 8));
    const tail = await api("GET", path, { key: acct.key, headers: { range: "bytes=-4" } });
    expect(new Uint8Array(await tail.arrayBuffer())).toEqual(bytes.slice(-4));
    const bad = await api("GET", path, { key: acct.key, headers: { range: `bytes=${bytes.byteLength}-` } });
    expect(bad.status).toBe(416);
    const notModified = await api("GET", path, { key: acct.key, headers: { "if-none-match": etag! } });
    expect(notModified.status).toBe(304);

    // The signed link works without a key; tampering or another path does not.
    const link = done.image!.url;
    const viaLink = await api("GET", link);
    expect(viaLink.status).toBe(200);
    expect(new Uint8Array(await viaLink.arrayBuffer())).toEqual(bytes);
    const tampered = await api("GET", link.replace("image.png", "preview.png"));
    expect(tampered.status).toBe(401);
    expect(tampered.headers.get("content-type")).toBe("application/problem+json");
    expect((await api("GET", path)).status).toBe(401);
    expect((await api("GET", `/v1/images/${job.id}/files/nope.png`, { key: acct.key })).status).toBe(404);
    // By format: the final image and the preview under stable names; a format the runner did not produce is 404.
    const byFormat = await api("GET", `/v1/images/${job.id}/files/image.png`, { key: acct.key });
    expect(new Uint8Array(await byFormat.arrayBuffer())).toEqual(bytes);
    expect(byFormat.headers.get("etag")).toBe(etag);
    const preview = await api("GET", `/v1/images/${job.id}/files/preview.png`, { key: acct.key });
    expect(preview.headers.get("etag")).toBe(`"${done.preview?.sha256}"`);
    await preview.arrayBuffer();
    const webp = await api("GET", `/v1/images/${job.id}/files/image.webp`, { key: acct.key });
    expect(webp.status).toBe(404);
  });

  it("a job belongs to its account: another key gets 404 everywhere", async () => {
    const owner = await account(FUNDS);
    const other = await account(FUNDS);
    const job = await expectJob(
      await api("POST", "/v1/images", { key: owner.key, body: body2x(uniquePrompt("mine"), seedOf()) }),
      202,
    );
    await waitForStatus(owner.key, job.id, ["succeeded"]);
    for (const [method, path] of [
      ["GET", `/v1/images/${job.id}`],
      ["DELETE", `/v1/images/${job.id}`],
      ["GET", `/v1/images/${job.id}/events`],
      ["GET", `/v1/images/${job.id}/files/image.png`],
    ] as const) {
      const res = await api(method, path, { key: other.key });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
    }
    // Unknown and malformed ids look the same.
    expect((await api("GET", `/v1/images/${"0".repeat(64)}`, { key: owner.key })).status).toBe(404);
    expect((await api("GET", "/v1/images/not-an-id", { key: owner.key })).status).toBe(404);
    expect((await getJob(owner.key, job.id)).status).toBe("succeeded");
  });

  it("refuses with 402 when the balance does not cover the quote, storing nothing", async () => {
    const acct = await account(PRICE_TABLE.minimum - 1);
    const prompt = uniquePrompt("poor");
    const res = await api("POST", "/v1/images", { key: acct.key, body: body4x(prompt, seedOf()) });
    const p = await expectJson<{ title: string; price: number; available: number }>(res, 402);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(p.available).toBe(PRICE_TABLE.minimum - 1);
    expect((await runnerLog(prompt)).jobs).toHaveLength(0);
    expect(await audit(acct.id)).toMatchObject({ balance: PRICE_TABLE.minimum - 1, reserved: 0 });
  });
});
