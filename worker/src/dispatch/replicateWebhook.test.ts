import { validateWebhook } from "replicate";
import { describe, expect, it } from "vitest";
import { mapReplicateStatus, outputUrls, verifyReplicateWebhook } from "./replicateWebhook";

const SECRET = `whsec_${btoa("0123456789abcdef0123456789abcdef")}`;

async function sign(secret: string, id: string, ts: number, body: string): Promise<string> {
  const raw = Uint8Array.from(atob(secret.slice(6)), (c) => c.charCodeAt(0));
  const key = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const sig = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${id}.${ts}.${body}`)));
  return `v1,${btoa(String.fromCharCode(...sig))}`;
}

describe("Replicate webhooks", () => {
  it("accepts what Replicate's own validator accepts, within the time window", async () => {
    const now = Date.now();
    const ts = Math.floor(now / 1000);
    const body = JSON.stringify({ id: "p1", status: "succeeded" });
    const signature = `v1,bm90LWl0 ${await sign(SECRET, "msg_1", ts, body)}`;
    const headers = new Headers({
      "webhook-id": "msg_1",
      "webhook-timestamp": String(ts),
      "webhook-signature": signature,
    });
    expect(await validateWebhook({ id: "msg_1", timestamp: String(ts), signature, body, secret: SECRET })).toBe(true);
    expect(await verifyReplicateWebhook(SECRET, headers, body, now)).toEqual({ ok: true, id: "msg_1" });
    expect(await verifyReplicateWebhook(SECRET, headers, `${body} `, now)).toEqual({
      ok: false,
      reason: "signature mismatch",
    });
    expect((await verifyReplicateWebhook(SECRET, headers, body, now + 10 * 60_000)).ok).toBe(false);
    expect((await verifyReplicateWebhook(`whsec_${btoa("another key")}`, headers, body, now)).ok).toBe(false);
    expect((await verifyReplicateWebhook(undefined, headers, body, now)).ok).toBe(false);
    headers.delete("webhook-id");
    expect(await verifyReplicateWebhook(SECRET, headers, body, now)).toEqual({
      ok: false,
      reason: "missing webhook headers",
    });
  });

  it("maps statuses and finds output URLs, final image last", () => {
    expect(
      ["starting", "processing", "succeeded", "failed", "canceled", "aborted", "?"].map(mapReplicateStatus),
    ).toEqual(["queued", "running", "succeeded", "failed", "cancelled", "cancelled", null]);
    expect(outputUrls("https://x/a.png")).toEqual(["https://x/a.png"]);
    expect(outputUrls(["https://x/1.png", "https://x/2.png"])).toEqual(["https://x/1.png", "https://x/2.png"]);
    expect(outputUrls({ final_image: "https://x/f.png", phases: ["https://x/1.png"] })).toEqual([
      "https://x/1.png",
      "https://x/f.png",
    ]);
    expect(outputUrls(null)).toEqual([]);
  });
});
