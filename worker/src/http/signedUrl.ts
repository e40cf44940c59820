/**
 * Short-lived signed URLs: `?exp=<unix seconds>&sig=<hex HMAC-SHA256(secret, "GET\n<path>\n<exp>")>`. They let a
 * mobile image view (which cannot add an Authorization header) or a runner (resume artifacts, the user's image)
 * fetch one blob for a limited time without holding an API key.
 */
import { hmacHex, timingSafeEqual } from "@accdiff/shared";

function message(path: string, exp: number): string {
  return `GET\n${path}\n${exp}`;
}

export async function signUrl(secret: string, base: string, path: string, ttlSeconds: number, now = Date.now()) {
  const exp = Math.floor(now / 1000) + ttlSeconds;
  const sig = await hmacHex(secret, message(path, exp));
  return `${base}${path}?exp=${exp}&sig=${sig}`;
}

export type SignedUrlCheck = { ok: true } | { ok: false; reason: string };

export async function verifySignedUrl(secret: string, url: URL, now = Date.now()): Promise<SignedUrlCheck> {
  const exp = url.searchParams.get("exp");
  const sig = url.searchParams.get("sig");
  if (!exp || !sig) return { ok: false, reason: "missing exp or sig" };
  if (!/^\d{1,12}$/.test(exp) || !/^[0-9a-f]{64}$/.test(sig)) return { ok: false, reason: "malformed exp or sig" };
  if (Number(exp) < Math.floor(now / 1000)) return { ok: false, reason: "link expired" };
  const expected = await hmacHex(secret, message(url.pathname, Number(exp)));
  return timingSafeEqual(expected, sig) ? { ok: true } : { ok: false, reason: "bad signature" };
}
