/**
 * Runner uploads are streamed to R2, never buffered: they must announce their length (and have exactly that many
 * bytes), stay under the cap, and are published under the artifact's key only after the signature over their hash
 * checks out. Whatever is refused leaves nothing behind, neither the artifact nor its pending copy.
 */
import { sha256Hex, signRequest } from "@accdiff/shared";
import { describe, expect, it } from "vitest";
import { PENDING_PREFIX } from "../src/http/streamToR2";
import { api, heldJob, testEnv } from "./jobsHelpers";

function bytes(n: number, salt: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = salt * 0x9e3779b9 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 255;
  }
  return out;
}

/** A body delivered in chunks, without a length (chunked transfer). */
function chunked(b: Uint8Array, chunk = 4096): ReadableStream<Uint8Array> {
  let o = 0;
  return new ReadableStream({
    pull(c) {
      if (o >= b.length) return c.close();
      c.enqueue(b.slice(o, o + chunk));
      o += chunk;
    },
  });
}

async function objectsUnder(prefix: string): Promise<string[]> {
  return (await testEnv.IMAGES.list({ prefix })).objects.map((o) => o.key);
}

describe("artifact uploads", () => {
  it("streams a signed upload into R2 and refuses unannounced, oversized, short and forged bodies", async () => {
    const { acct, job } = await heldJob("streamed uploads");
    const path = (name: string) => `/internal/jobs/${job.id}/attempts/1/artifacts/phase_latents/${name}`;
    const signed = async (p: string, body: Uint8Array, extra: Record<string, string> = {}) => ({
      ...(await signRequest(testEnv.RUNNER_SECRET, { method: "PUT", path: p, body })),
      "content-type": "application/octet-stream",
      ...extra,
    });
    const big = bytes(3 * 1024 * 1024 + 17, 1);

    // No Content-Length (chunked): refused before anything is stored, although the signature is valid.
    const noLength = await api("PUT", path("chunked.npy"), {
      body: chunked(big),
      headers: await signed(path("chunked.npy"), big),
    });
    expect(noLength.status).toBe(411);
    // Announced above the cap: refused without reading the body.
    const huge = await api("PUT", path("huge.npy"), {
      body: big,
      headers: await signed(path("huge.npy"), big, { "content-length": String(100 * 1024 * 1024 + 1) }),
    });
    expect(huge.status).toBe(413);
    // Fewer bytes than announced (the signature covers the bytes that came).
    const short = big.slice(0, 1000);
    const shortRes = await api("PUT", path("short.npy"), {
      body: short,
      headers: await signed(path("short.npy"), short, { "content-length": "1001" }),
    });
    expect(shortRes.status).toBe(400);
    // Other bytes than the signed ones.
    const forged = await api("PUT", path("forged.npy"), {
      body: bytes(big.length, 2),
      headers: await signed(path("forged.npy"), big),
    });
    expect(forged.status).toBe(401);
    expect(await objectsUnder(`jobs/${job.id}/`)).toEqual([]);

    // A valid upload of several MiB: stored under its key with the hash of its bytes, nothing left pending.
    const ok = await api("PUT", path("phase-2.npy"), { body: big, headers: await signed(path("phase-2.npy"), big) });
    expect(ok.status).toBe(201);
    const digest = await sha256Hex(big);
    expect(await ok.json()).toEqual({ key: "phase_latents/phase-2.npy", bytes: big.length, sha256: digest });
    const stored = await testEnv.IMAGES.get(`jobs/${job.id}/1/phase_latents/phase-2.npy`);
    expect(stored?.size).toBe(big.length);
    expect(stored?.customMetadata?.sha256).toBe(digest);
    expect(stored?.httpMetadata?.contentType).toBe("application/octet-stream");
    expect(await sha256Hex(new Uint8Array(await stored!.arrayBuffer()))).toBe(digest);
    expect(await objectsUnder(`jobs/${job.id}/`)).toEqual([`jobs/${job.id}/1/phase_latents/phase-2.npy`]);

    // The same request again (a replay) is refused and changes nothing.
    const headers = await signed(path("phase-2.npy"), big);
    expect((await api("PUT", path("phase-2.npy"), { body: big, headers })).status).toBe(201);
    const replay = await api("PUT", path("phase-2.npy"), { body: bytes(big.length, 3), headers });
    expect(replay.status).toBe(401);
    expect((await api("PUT", path("phase-2.npy"), { body: big, headers })).status).toBe(401);
    expect((await testEnv.IMAGES.head(`jobs/${job.id}/1/phase_latents/phase-2.npy`))?.customMetadata?.sha256).toBe(
      digest,
    );
    expect(await objectsUnder(`${PENDING_PREFIX}jobs/${job.id}/`)).toEqual([]);
    await api("DELETE", `/v1/images/${job.id}`, { key: acct.key });
  });
});
