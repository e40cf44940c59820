/**
 * Replicate's webhook signatures (the Standard Webhooks scheme): HMAC-SHA256 with the base64 secret after "whsec_",
 * over "<webhook-id>.<webhook-timestamp>.<body>", sent as space-separated "v1,<base64>" entries in webhook-signature.
 * Verified with crypto.subtle.verify (constant time), within a timestamp window against replays of old deliveries;
 * the webhook id then dedupes redeliveries.
 */
import type { JobStatus } from "@accdiff/shared";

export const WEBHOOK_WINDOW_SECONDS = 300;

function base64ToBytes(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export type WebhookCheck = { ok: true; id: string } | { ok: false; reason: string };

export async function verifyReplicateWebhook(
  secret: string | undefined,
  headers: Headers,
  body: string,
  now = Date.now(),
): Promise<WebhookCheck> {
  if (!secret) return { ok: false, reason: "no webhook secret configured" };
  const id = headers.get("webhook-id");
  const ts = headers.get("webhook-timestamp");
  const sigs = headers.get("webhook-signature");
  if (!id || !ts || !sigs) return { ok: false, reason: "missing webhook headers" };
  if (!/^\d{1,12}$/.test(ts)) return { ok: false, reason: "malformed timestamp" };
  if (Math.abs(Math.floor(now / 1000) - Number(ts)) > WEBHOOK_WINDOW_SECONDS) {
    return { ok: false, reason: "timestamp outside the allowed window" };
  }
  let keyBytes: Uint8Array;
  try {
    keyBytes = base64ToBytes(secret.startsWith("whsec_") ? secret.slice(6) : secret);
  } catch {
    return { ok: false, reason: "malformed webhook secret" };
  }
  const key = await crypto.subtle.importKey(
    "raw",
    keyBytes as Uint8Array<ArrayBuffer>,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["verify"],
  );
  const data = new TextEncoder().encode(`${id}.${ts}.${body}`);
  for (const entry of sigs.split(" ")) {
    const [version, b64] = entry.split(",", 2);
    if (version !== "v1" || !b64) continue;
    let sig: Uint8Array;
    try {
      sig = base64ToBytes(b64);
    } catch {
      continue;
    }
    if (await crypto.subtle.verify("HMAC", key, sig as Uint8Array<ArrayBuffer>, data)) return { ok: true, id };
  }
  return { ok: false, reason: "signature mismatch" };
}

/** Replicate's prediction statuses on ours. */
export function mapReplicateStatus(status: string): JobStatus | null {
  switch (status) {
    case "starting":
      return "queued";
    case "processing":
      return "running";
    case "succeeded":
      return "succeeded";
    case "failed":
      return "failed";
    case "canceled":
    case "aborted":
      return "cancelled";
    default:
      return null;
  }
}

/** The output URLs of a prediction, final image last: a string, a list, or an object of either. */
export function outputUrls(output: unknown): string[] {
  if (typeof output === "string") return [output];
  if (Array.isArray(output)) return output.flatMap(outputUrls);
  if (output && typeof output === "object") {
    const o = output as Record<string, unknown>;
    const main = o.final_image ?? o.image;
    const rest = Object.entries(o)
      .filter(([k]) => k !== "final_image" && k !== "image")
      .flatMap(([, v]) => outputUrls(v));
    return [...rest, ...(main !== undefined ? outputUrls(main) : [])];
  }
  return [];
}
