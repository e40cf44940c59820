/**
 * Request signing between worker and runner: HMAC-SHA256 over method, path, timestamp, nonce and the SHA-256 of the
 * exact body bytes. Verified in constant time within a time window; a `seen` callback rejects replayed nonces.
 * Web Crypto only, so the same code runs in Workers and Node.
 */

export const SIGNATURE_HEADER = "x-accdiff-signature";
export const TIMESTAMP_HEADER = "x-accdiff-timestamp";
export const NONCE_HEADER = "x-accdiff-nonce";
export const DEFAULT_WINDOW_SECONDS = 300;

const enc = new TextEncoder();

export type SignableBody = string | Uint8Array | ArrayBuffer | null | undefined;

function bodyBytes(body: SignableBody): Uint8Array {
  if (body == null) return new Uint8Array(0);
  if (typeof body === "string") return enc.encode(body);
  return body instanceof Uint8Array ? body : new Uint8Array(body);
}

export function toHex(buf: ArrayBuffer | Uint8Array): string {
  const b = buf instanceof Uint8Array ? buf : new Uint8Array(buf);
  let s = "";
  for (let i = 0; i < b.length; i++) s += b[i].toString(16).padStart(2, "0");
  return s;
}

async function sha256(data: Uint8Array): Promise<string> {
  return toHex(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>));
}

// (typed through importKey so that the same source compiles against both the DOM and Node typings)
type HmacKey = Awaited<ReturnType<typeof crypto.subtle.importKey>>;
const keyCache = new Map<string, Promise<HmacKey>>();
function hmacKey(secret: string): Promise<HmacKey> {
  let k = keyCache.get(secret);
  if (!k) {
    k = crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    if (keyCache.size > 16) keyCache.clear();
    keyCache.set(secret, k);
  }
  return k;
}

/** The exact string that is signed, given the hex SHA-256 of the body. */
function canonicalOfDigest(method: string, path: string, timestamp: string, nonce: string, bodySha256: string): string {
  return `v1\n${method.toUpperCase()}\n${path}\n${timestamp}\n${nonce}\n${bodySha256}`;
}

/** The exact string that is signed. */
export async function canonicalString(
  method: string,
  path: string,
  timestamp: string,
  nonce: string,
  body: SignableBody,
): Promise<string> {
  return canonicalOfDigest(method, path, timestamp, nonce, await sha256(bodyBytes(body)));
}

export async function hmacHex(secret: string, message: string): Promise<string> {
  const sig = await crypto.subtle.sign("HMAC", await hmacKey(secret), enc.encode(message));
  return toHex(sig);
}

/** Constant-time comparison of two strings (time depends only on the longer length). */
export function timingSafeEqual(a: string, b: string): boolean {
  const n = Math.max(a.length, b.length);
  let diff = a.length ^ b.length;
  for (let i = 0; i < n; i++) diff |= (a.charCodeAt(i) || 0) ^ (b.charCodeAt(i) || 0);
  return diff === 0;
}

function randomNonce(): string {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return toHex(b);
}

export interface SignInput {
  method: string;
  /** Path plus query string, e.g. "/v1/jobs?x=1". */
  path: string;
  body?: SignableBody;
}

/** Headers to add to a request so that `verifyRequest` accepts it. */
export async function signRequest(
  secret: string,
  req: SignInput,
  opts: { now?: number; nonce?: string } = {},
): Promise<Record<string, string>> {
  if (!secret) throw new Error("signing secret is empty");
  const timestamp = String(Math.floor((opts.now ?? Date.now()) / 1000));
  const nonce = opts.nonce ?? randomNonce();
  const sig = await hmacHex(secret, await canonicalString(req.method, req.path, timestamp, nonce, req.body));
  return { [TIMESTAMP_HEADER]: timestamp, [NONCE_HEADER]: nonce, [SIGNATURE_HEADER]: `v1=${sig}` };
}

export type VerifyResult = { ok: true; nonce: string; timestamp: number } | { ok: false; reason: string };

export interface VerifyInput extends SignInput {
  headers: Headers | Record<string, string | undefined>;
  /**
   * The lowercase hex SHA-256 of the body, in place of `body`, for a body that was streamed elsewhere while hashed
   * (a large upload is never held in memory). The signature covers exactly this digest, so it is as strong.
   */
  bodySha256?: string;
}

function header(h: VerifyInput["headers"], name: string): string | undefined {
  if (h instanceof Headers) return h.get(name) ?? undefined;
  const key = Object.keys(h).find((k) => k.toLowerCase() === name);
  return key ? h[key] : undefined;
}

export type HeaderCheck =
  | { ok: true; timestamp: string; nonce: string; signature: string }
  | { ok: false; reason: string };

/**
 * The checks that need no body: the signature headers are present, well formed and within the time window. A
 * receiver runs them before reading a body, so that an unsigned or stale request never makes it read (or store) one.
 */
export function checkSignatureHeaders(
  headers: VerifyInput["headers"],
  opts: { now?: number; windowSeconds?: number } = {},
): HeaderCheck {
  const ts = header(headers, TIMESTAMP_HEADER);
  const nonce = header(headers, NONCE_HEADER);
  const sig = header(headers, SIGNATURE_HEADER);
  if (!ts || !nonce || !sig) return { ok: false, reason: "missing signature headers" };
  if (!/^\d{1,12}$/.test(ts)) return { ok: false, reason: "malformed timestamp" };
  if (!/^[A-Za-z0-9_-]{8,128}$/.test(nonce)) return { ok: false, reason: "malformed nonce" };
  if (!/^v1=[0-9a-f]{64}$/.test(sig)) return { ok: false, reason: "malformed signature" };
  const now = Math.floor((opts.now ?? Date.now()) / 1000);
  const window = opts.windowSeconds ?? DEFAULT_WINDOW_SECONDS;
  if (Math.abs(now - Number(ts)) > window) return { ok: false, reason: "timestamp outside the allowed window" };
  return { ok: true, timestamp: ts, nonce, signature: sig };
}

/**
 * Verifies a signed request. `seen(nonce)` is called only for otherwise valid signatures and must return true when
 * the nonce was already used (and record it otherwise); nonces need to be kept only for the window.
 */
export async function verifyRequest(
  secret: string,
  req: VerifyInput,
  opts: { now?: number; windowSeconds?: number; seen?: (nonce: string) => Promise<boolean> | boolean } = {},
): Promise<VerifyResult> {
  if (!secret) return { ok: false, reason: "server has no signing secret configured" };
  const h = checkSignatureHeaders(req.headers, opts);
  if (!h.ok) return h;
  const { timestamp: ts, nonce, signature: sig } = h;
  const t = Number(ts);
  let canonical: string;
  if (req.bodySha256 !== undefined) {
    if (req.body != null) return { ok: false, reason: "both a body and its digest were given" };
    if (!/^[0-9a-f]{64}$/.test(req.bodySha256)) return { ok: false, reason: "malformed body digest" };
    canonical = canonicalOfDigest(req.method, req.path, ts, nonce, req.bodySha256);
  } else {
    canonical = await canonicalString(req.method, req.path, ts, nonce, req.body);
  }
  const expected = await hmacHex(secret, canonical);
  if (!timingSafeEqual(`v1=${expected}`, sig)) return { ok: false, reason: "signature mismatch" };
  if (opts.seen && (await opts.seen(nonce))) return { ok: false, reason: "replayed request" };
  return { ok: true, nonce, timestamp: t };
}

/** A bounded in-memory replay guard (a runner process; the worker keeps nonces in a Durable Object). */
export function memoryReplayGuard(windowSeconds = DEFAULT_WINDOW_SECONDS, max = 100_000) {
  const seen = new Map<string, number>();
  return (nonce: string): boolean => {
    const now = Date.now() / 1000;
    if (seen.size >= max) {
      for (const [k, exp] of seen) if (exp < now) seen.delete(k);
      if (seen.size >= max) seen.delete(seen.keys().next().value as string);
    }
    const exp = seen.get(nonce);
    if (exp !== undefined && exp >= now) return true;
    seen.set(nonce, now + 2 * windowSeconds);
    return false;
  };
}
