/**
 * Hostile input on the public API: each is answered with the right status as problem+json, and nothing is stored —
 * no job object, no reservation, no dispatch, no upload.
 */
import { listDurableObjectIds } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { makePng } from "./fakes/png";
import { account, api, body2x, body4x, runnerLog, seedOf, testEnv, uniquePrompt, waitForStatus } from "./jobsHelpers";
import { nothingStored, problemOf } from "./refusals";

const FUNDS = 1_000_000;

describe("hostile input to POST /v1/images", () => {
  it("is refused with the right status, storing nothing", async () => {
    const acct = await account(FUNDS);
    const prompt = uniquePrompt("hostile");
    const jobs = (await listDurableObjectIds(testEnv.JOBS)).length;
    const post = (body: unknown, headers: Record<string, string> = {}) =>
      api("POST", "/v1/images", { key: acct.key, body, headers });

    // Oversized: refused from Content-Length, and from the bytes when it lies or is absent.
    const huge = JSON.stringify({ ...body4x(prompt, 1), negativePrompt: "x".repeat(2_000_000) });
    expect((await problemOf(await post(huge, { "content-type": "application/json" }), 413)).title).toBe(
      "Payload too large",
    );
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode(huge));
        c.close();
      },
    });
    const chunked = await api("POST", "/v1/images", {
      key: acct.key,
      body: stream,
      headers: { "content-type": "application/json" },
    });
    await problemOf(chunked, 413);
    // A request just over the JSON limit without an inline image.
    await problemOf(
      await post(JSON.stringify({ ...body4x(prompt, 1), negativePrompt: "y".repeat(70_000) }), {
        "content-type": "application/json",
      }),
      413,
    );

    await problemOf(await post("{not json", { "content-type": "application/json" }), 400);
    await problemOf(await post("[1,2,3]", { "content-type": "application/json" }), 400);
    await problemOf(await post("prompt=cat", { "content-type": "application/x-www-form-urlencoded" }), 415);

    const wrong = await problemOf(
      await post({ prompt: 42, width: "256", height: 256.5, seed: -1, steps: 1e9, c: Number.NaN }),
      422,
    );
    // (NaN travels as JSON null: still not a number.)
    expect(wrong.errors?.map((e) => e.path).sort()).toEqual(["c", "height", "prompt", "seed", "steps", "width"]);
    const unknown = await problemOf(
      await post({ ...body4x(prompt, 1), admin: true, switches: { gaussian: false, turbo: true } }),
      422,
    );
    expect(unknown.errors).toEqual(
      expect.arrayContaining([
        { path: "", message: "unknown field(s): admin" },
        { path: "switches", message: "unknown field(s): turbo" },
      ]),
    );
    const bounds = await problemOf(await post({ ...body4x(prompt, 1), width: 4096, height: 256 }), 422);
    expect(bounds.errors?.map((e) => e.path)).toContain("width");
    await problemOf(await post({ ...body4x(prompt, 1), bundle: "someone-elses-model" }), 422);
    const missingImage = await problemOf(
      await post({ ...body4x(prompt, 1), image: { sha256: "b".repeat(64), width: 64, height: 64 } }),
      422,
    );
    expect(missingImage.errors?.[0].path).toBe("image.sha256");
    await problemOf(await post(body4x(prompt, 1), { "idempotency-key": "bad key with spaces" }), 400);

    // Inline images: not an image, too many pixels, bad base64, both inline and by reference.
    await problemOf(await post({ ...body4x(prompt, 1), imageBase64: btoa("GIF89a not supported") }), 415);
    const big = Buffer.from(makePng(600, 600)).toString("base64");
    await problemOf(await post({ ...body4x(prompt, 1), imageBase64: big }), 422);
    await problemOf(await post({ ...body4x(prompt, 1), imageBase64: "!!!not base64!!!" }), 400);
    const small = Buffer.from(makePng(64, 64)).toString("base64");
    await problemOf(
      await post({
        ...body4x(prompt, 1),
        imageBase64: small,
        image: { sha256: "c".repeat(64), width: 64, height: 64 },
      }),
      400,
    );
    // A valid image with an invalid request: the image is not kept either.
    await problemOf(await post({ ...body4x(prompt, 1), steps: 0, imageBase64: small }), 422);
    const form = new FormData();
    form.set("request", JSON.stringify({ ...body4x(prompt, 1), steps: "many" }));
    form.set("image", new Blob([makePng(64, 64)], { type: "image/png" }), "in.png");
    await problemOf(await api("POST", "/v1/images", { key: acct.key, body: form }), 422);
    const noRequest = new FormData();
    noRequest.set("image", new Blob([makePng(64, 64)], { type: "image/png" }), "in.png");
    await problemOf(await api("POST", "/v1/images", { key: acct.key, body: noRequest }), 400);

    await nothingStored(acct, prompt, jobs, FUNDS);
  });

  it("refuses missing, malformed and unknown keys before reading the body", async () => {
    const acct = await account(FUNDS);
    const prompt = uniquePrompt("no key");
    const jobs = (await listDurableObjectIds(testEnv.JOBS)).length;
    for (const key of [null, "not-a-key", `acd_${"0".repeat(24)}_${"0".repeat(8)}_${"A".repeat(43)}`]) {
      const res = await api("POST", "/v1/images", { key, body: body4x(prompt, seedOf()) });
      await problemOf(res, 401);
    }
    await nothingStored(acct, prompt, jobs, FUNDS);
  });

  it("answers unknown routes and methods with problem+json", async () => {
    const acct = await account(FUNDS);
    await problemOf(await api("GET", "/v2/images", { key: acct.key }), 404);
    await problemOf(await api("PATCH", "/v1/images/abc", { key: acct.key }), 404);
  });
});

describe("uploads", () => {
  it("accepts PNG by multipart, base64 and /v1/uploads, and the hash enters the cache key", async () => {
    const acct = await account(FUNDS);
    const png = makePng(64, 64, 3);
    const up = await api("POST", "/v1/uploads", {
      key: acct.key,
      body: new Uint8Array(png),
      headers: { "content-type": "image/png" },
    });
    expect(up.status).toBe(201);
    const ref = (await up.json()) as { sha256: string; width: number; height: number };
    expect(ref).toMatchObject({ width: 64, height: 64 });
    expect((await testEnv.IMAGES.head(`uploads/${acct.id}/${ref.sha256}`))?.size).toBe(png.length);

    const prompt = uniquePrompt("upscale");
    const byRef = await api("POST", "/v1/images", {
      key: acct.key,
      body: { ...body2x(prompt, 7), image: { sha256: ref.sha256, width: 64, height: 64 } },
    });
    expect(byRef.status).toBe(202);
    const form = new FormData();
    form.set("request", JSON.stringify(body2x(prompt, 8)));
    form.set("image", new Blob([png], { type: "image/png" }), "in.png");
    const byForm = await api("POST", "/v1/images", { key: acct.key, body: form });
    expect(byForm.status).toBe(202);
    const byB64 = await api("POST", "/v1/images", {
      key: acct.key,
      body: { ...body2x(prompt, 9), imageBase64: `data:image/png;base64,${png.toString("base64")}` },
    });
    expect(byB64.status).toBe(202);
    for (const r of [byRef, byForm, byB64])
      expect(((await r.clone().json()) as { request: { image: { sha256: string } } }).request.image.sha256).toBe(
        ref.sha256,
      );

    // Another account cannot reference this upload by its hash.
    const other = await account(FUNDS);
    const stolen = await api("POST", "/v1/images", {
      key: other.key,
      body: { ...body4x(prompt, 7), image: { sha256: ref.sha256, width: 64, height: 64 } },
    });
    expect(stolen.status).toBe(422);

    // The runner got a signed link to the image and could download it.
    const ids = await Promise.all(
      [byRef, byForm, byB64].map(async (r) => ((await r.clone().json()) as { id: string }).id),
    );
    for (const id of ids) await waitForStatus(acct.key, id, ["succeeded", "failed"]);
    const log = await runnerLog(prompt);
    expect(log.jobs).toHaveLength(3);
    for (const j of log.jobs) {
      expect(j.job.imageUrl).toMatch(/\/internal\/blobs\/uploads\//);
      expect(j.imageDownload).toBe(200);
    }
    // Same image, different seeds: three phase-1 keys; the image hash is part of each.
    expect(new Set(log.jobs.map((j) => j.job.cacheKeys.phase1)).size).toBe(3);

    const notImage = await api("POST", "/v1/uploads", {
      key: acct.key,
      body: new Uint8Array([1, 2, 3, 4]),
      headers: { "content-type": "image/png" },
    });
    expect(notImage.status).toBe(415);
    const tooBig = await api("POST", "/v1/uploads", {
      key: acct.key,
      body: new Uint8Array(300_000),
      headers: { "content-type": "image/png" },
    });
    expect(tooBig.status).toBe(413);
  });
});
