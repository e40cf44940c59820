/**
 * Standard Webhooks (standardwebhooks.com), both directions: Replicate signs the webhooks it sends us this way, and we
 * sign ours this way. The secret is "whsec_" + base64 of the key bytes; the signature is HMAC-SHA256 over
 * "<webhook-id>.<webhook-timestamp>.<body>", sent as space-separated "v1,<base64>" entries in webhook-signature (one
 * per valid secret, so that a receiver keeps verifying while a secret is rotated). Verification is constant time
 * (crypto.subtle.verify) within a timestamp window against replays of old deliveries.
 */

export const WEBHOOK_WINDOW_SECONDS = 300;
const SECRET_PREFIX = "whsec_";

function base64ToBytes(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function bytesToBase64(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

/** The key bytes of a "whsec_<base64>" secret (a bare base64 secret is accepted too); throws when malformed. */
export function secretKeyBytes(secret: string): Uint8Array {
  return base64ToBytes(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret);
}

/** A new random secret in the whsec_ convention (32 key bytes). */
export function newWebhookSecret(): string {
  return `${SECRET_PREFIX}${bytesToBase64(crypto.getRandomValues(new Uint8Array(32)))}`;
}

function hmacKey(secret: string, usage: "sign" | "verify") {
  return crypto.subtle.importKey(
    "raw",
    secretKeyBytes(secret) as Uint8Array<ArrayBuffer>,
    { name: "HMAC", hash: "SHA-256" },
    false,
    [usage],
  );
}

const signedContent = (id: string, timestamp: number | string, body: string) =>
  new TextEncoder().encode(`${id}.${timestamp}.${body}`);

/** The webhook-signature header value: one "v1,<base64>" entry per secret. */
export async function signWebhook(secrets: string[], id: string, timestamp: number, body: string): Promise<string> {
  const entries: string[] = [];
  for (const secret of secrets) {
    const sig = await crypto.subtle.sign("HMAC", await hmacKey(secret, "sign"), signedContent(id, timestamp, body));
    entries.push(`v1,${bytesToBase64(new Uint8Array(sig))}`);
  }
  return entries.join(" ");
}

/** The three Standard Webhooks headers of one delivery attempt. */
export async function webhookHeaders(
  secrets: string[],
  id: string,
  body: string,
  now = Date.now(),
): Promise<Record<string, string>> {
  const timestamp = Math.floor(now / 1000);
  return {
    "webhook-id": id,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": await signWebhook(secrets, id, timestamp, body),
  };
}

export type WebhookCheck = { ok: true; id: string } | { ok: false; reason: string };

export async function verifyWebhook(
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
  let key: Awaited<ReturnType<typeof hmacKey>>;
  try {
    key = await hmacKey(secret, "verify");
  } catch {
    return { ok: false, reason: "malformed webhook secret" };
  }
  const data = signedContent(id, ts, body);
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
