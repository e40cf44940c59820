import { validateWebhook } from "replicate";
import { describe, expect, it } from "vitest";
import {
  mapReplicateStatus,
  outputImages,
  outputSummary,
  outputUrls,
  progressPhase,
  verifyReplicateWebhook,
} from "./replicateWebhook";

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

describe("the Cog predictor's output", () => {
  const scales = [1, 2, 3, 4];
  it("names each phase image with its phase; the final image is the last phase's", () => {
    const output = {
      final_image: "https://x/final.png",
      phase_images: ["https://x/p3.png", "https://x/p4.png"],
      phases: [3, 4],
      summary: "{}",
    };
    expect(outputImages(output, scales)).toEqual([
      { url: "https://x/p3.png", phase: 3, final: false },
      { url: "https://x/p4.png", phase: 4, final: false },
      { url: "https://x/final.png", phase: 4, final: true },
    ]);
    // Phases the job does not have are dropped; lists keep their old reading (one per phase, final last).
    expect(outputImages({ ...output, phases: [9, 4] }, scales).map((i) => i.phase)).toEqual([4, 4]);
    expect(outputImages(["https://x/a.png", "https://x/b.png"], scales)).toEqual([
      { url: "https://x/b.png", phase: 4, final: true },
    ]);
  });

  it("reads the runner's summary when well formed, and the phase of the latest progress line", () => {
    const summary = {
      width: 2048,
      height: 2048,
      phasesComputed: [1, 2],
      modelEvaluations: {},
      timingsMs: { total: 5 },
      warnings: [],
    };
    expect(outputSummary({ summary: JSON.stringify(summary) })).toEqual(summary);
    expect(outputSummary({ summary: JSON.stringify({ ...summary, width: "big" }) })).toBeNull();
    expect(outputSummary({ summary: "{not json" })).toBeNull();
    expect(progressPhase(" 10%|#         | 1/5 [phase 1]\nlowres_image\n 40%|####      | 2/5 [phase 2]\n")).toBe(2);
    expect(progressPhase(" 50%|█████     | 1/2 [00:00<00:00, 10.00it/s]\n")).toBeNull();
  });
});
