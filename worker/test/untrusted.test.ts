/**
 * What the worker takes from outside, judged before it costs anything: uploads must be whole images, multipart bodies
 * carry exactly the parts the API names, prompts must be text, runner traffic must be signed before a body byte is
 * read, and no link or runner callback is built from the request's Host header.
 */
import { listDurableObjectIds } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { resolvePublicBase } from "../src/http/publicBase";
import { makePng } from "./fakes/png";
import {
  account,
  api,
  body2x,
  expectJob,
  heldJob,
  runnerLog,
  seedOf,
  testEnv,
  uniquePrompt,
  waitFor,
  waitForStatus,
} from "./jobsHelpers";
import { nothingStored, problemOf } from "./refusals";

const FUNDS = 1_000_000;

const png = () => new Blob([makePng(64, 64, 1)], { type: "image/png" });

describe("uploads must be whole images", () => {
  it("refuses a truncated PNG with 422, by /v1/uploads and inline, storing and charging nothing", async () => {
    const acct = await account(FUNDS);
    const prompt = uniquePrompt("truncated upload");
    const jobs = (await listDurableObjectIds(testEnv.JOBS)).length;
    const cut = new Uint8Array(makePng(64, 64, 2)).subarray(0, 60); // header and IHDR intact, the rest missing
    const up = await problemOf(
      await api("POST", "/v1/uploads", { key: acct.key, body: cut, headers: { "content-type": "image/png" } }),
      422,
    );
    expect(up.detail).toContain("incomplete or damaged");
    const form = new FormData();
    form.set("request", JSON.stringify(body2x(prompt, 1)));
    form.set("image", new Blob([cut], { type: "image/png" }), "in.png");
    const inline = await problemOf(await api("POST", "/v1/images", { key: acct.key, body: form }), 422);
    expect(inline.errors?.[0]).toMatchObject({ path: "image" });
    expect(inline.errors?.[0].message).toContain("truncated");
    await nothingStored(acct, prompt, jobs, FUNDS);
  });
});

describe("multipart parts are named by the API", () => {
  it.each([
    ["an image under another name", [["request"], ["file", "png"]], "file", "unknown part"],
    ["two images", [["request"], ["image", "png"], ["image", "png"]], "image", "sent 2 times"],
    ["two requests", [["request"], ["request"]], "request", "sent 2 times"],
  ] as const)("refuses %s with 422 naming the part", async (_, parts, field, message) => {
    const acct = await account(FUNDS);
    const prompt = uniquePrompt("multipart parts");
    const jobs = (await listDurableObjectIds(testEnv.JOBS)).length;
    const form = new FormData();
    for (const [name, kind] of parts) {
      if (kind === "png") form.append(name, png(), "in.png");
      else form.append(name, JSON.stringify(body2x(prompt, seedOf())));
    }
    const p = await problemOf(await api("POST", "/v1/images", { key: acct.key, body: form }), 422);
    expect(p.errors).toEqual([{ path: field, message: expect.stringContaining(message) }]);
    await nothingStored(acct, prompt, jobs, FUNDS);
  });
});

describe("prompts must be text", () => {
  it.each([
    ["prompt", "a c\u0000at", "U+0000", 3],
    ["prompt", "cat\u001b[31m", "U+001B", 3],
    ["negativePrompt", "blurry \u0085", "U+0085", 7],
    ["prompt", "a \ud83d cat", "U+D83D", 2],
  ])("refuses a %s with %j, naming the field and the position", async (field, text, cp, position) => {
    const acct = await account(FUNDS);
    const prompt = uniquePrompt("text");
    const jobs = (await listDurableObjectIds(testEnv.JOBS)).length;
    const body = { ...body2x(prompt, 1), [field]: field === "prompt" ? `${text} ${prompt}` : text };
    const p = await problemOf(await api("POST", "/v1/images", { key: acct.key, body }), 422);
    expect(p.errors).toHaveLength(1);
    expect(p.errors?.[0].path).toBe(field);
    expect(p.errors?.[0].message).toContain(cp);
    expect(p.errors?.[0].message).toContain(`position ${position}`);
    await nothingStored(acct, prompt, jobs, FUNDS);
  });

  it("stores prompts in NFC with tabs and line breaks as spaces", async () => {
    const acct = await account(FUNDS);
    const prompt = uniquePrompt("Cafe\u0301\ton the\nlawn");
    const job = await expectJob(await api("POST", "/v1/images", { key: acct.key, body: body2x(prompt, 1) }), 202);
    expect(job.request.prompt).toBe(prompt.normalize("NFC").replace(/[\t\n]/g, " "));
    expect(job.request.prompt).toContain("Café on the lawn");
    await api("DELETE", `/v1/images/${job.id}`, { key: acct.key });
  });
});

describe("runner traffic is refused unsigned before its body is read", () => {
  it("answers an unsigned 50 MB artifact PUT with 401 having read almost none of it", async () => {
    const { acct, job } = await heldJob("unsigned upload");
    const size = 50 * 1024 * 1024;
    const fixed = new FixedLengthStream(size);
    const writer = fixed.writable.getWriter();
    const chunk = new Uint8Array(64 * 1024);
    const sent = { bytes: 0 };
    const feeding = (async () => {
      while (sent.bytes < size) {
        await writer.write(chunk);
        sent.bytes += chunk.byteLength;
      }
      await writer.close();
    })().catch(() => undefined);
    const started = Date.now();
    const res = await api("PUT", `/internal/jobs/${job.id}/attempts/1/artifacts/phase_latents/big.bin`, {
      body: fixed.readable,
      headers: { "content-type": "application/octet-stream", "content-length": String(size) },
    });
    const p = await problemOf(res, 401);
    expect(p.detail).toBe("missing signature headers");
    await new Promise((r) => setTimeout(r, 200));
    expect(sent.bytes).toBeLessThan(4 * 1024 * 1024);
    expect(Date.now() - started).toBeLessThan(5000);
    await writer.abort().catch(() => undefined);
    await feeding;
    // A stale signature is refused the same way, before the body.
    const stale = await api("POST", `/internal/jobs/${job.id}/events`, {
      body: "{}",
      headers: {
        "x-accdiff-timestamp": String(Math.floor(Date.now() / 1000) - 3600),
        "x-accdiff-nonce": "abcdefgh12345678",
        "x-accdiff-signature": `v1=${"0".repeat(64)}`,
      },
    });
    expect((await problemOf(stale, 401)).detail).toContain("window");
    await api("DELETE", `/v1/images/${job.id}`, { key: acct.key });
  });
});

describe("links and runner callbacks come from PUBLIC_BASE_URL only", () => {
  it("ignores a forged Host: links and the runner's callback are on the configured base", async () => {
    const base = testEnv.PUBLIC_BASE_URL as string;
    const acct = await account(FUNDS);
    const prompt = uniquePrompt("forged host");
    const res = await api("POST", "http://evil.example/v1/images", { key: acct.key, body: body2x(prompt, seedOf()) });
    const job = await expectJob(res, 202);
    expect(job.links.self).toBe(`${base}/v1/images/${job.id}`);
    const seen = await expectJob(await api("GET", `http://evil.example/v1/images/${job.id}`, { key: acct.key }), 200);
    expect(JSON.stringify(seen)).not.toContain("evil.example");
    const sent = await waitFor("dispatch", async () => (await runnerLog(prompt)).jobs[0]);
    expect(sent.job.callbackUrl.startsWith(`${base}/internal/`)).toBe(true);
    expect(sent.job.uploadUrl.startsWith(`${base}/internal/`)).toBe(true);
    // The runner's events and uploads reached the worker there.
    expect((await waitForStatus(acct.key, job.id, ["succeeded", "failed"])).status).toBe("succeeded");
  });

  it("a worker without one refuses to take jobs, with a clear error, and stores nothing", async () => {
    const acct = await account(FUNDS);
    const prompt = uniquePrompt("no base");
    const jobs = (await listDurableObjectIds(testEnv.JOBS)).length;
    const res = await api("POST", "/v1/images", {
      key: acct.key,
      body: body2x(prompt, seedOf()),
      envOverride: { PUBLIC_BASE_URL: "" },
    });
    const p = await problemOf(res, 503);
    expect(p.detail).toContain("PUBLIC_BASE_URL is not configured");
    await nothingStored(acct, prompt, jobs, FUNDS);
  });

  it("local development alone may use a loopback request's origin", () => {
    const dev = { PUBLIC_BASE_URL: undefined, LOCAL_DEV: "true" };
    expect(resolvePublicBase(dev, "http://127.0.0.1:9999/v1/images")).toEqual({
      ok: true,
      base: "http://127.0.0.1:9999",
    });
    expect(resolvePublicBase(dev, "http://localhost:8787/v1/images")).toMatchObject({ ok: true });
    expect(resolvePublicBase(dev, "http://evil.example/v1/images")).toMatchObject({ ok: false });
    expect(resolvePublicBase({ PUBLIC_BASE_URL: undefined }, "http://127.0.0.1:8787/")).toMatchObject({ ok: false });
    expect(resolvePublicBase({ PUBLIC_BASE_URL: "https://api.example.com/" }, "http://evil.example/")).toEqual({
      ok: true,
      base: "https://api.example.com",
    });
    expect(resolvePublicBase({ PUBLIC_BASE_URL: "ftp://x" }, "http://127.0.0.1/")).toMatchObject({ ok: false });
  });
});
