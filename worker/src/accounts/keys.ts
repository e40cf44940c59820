/**
 * API keys and account ids: generation, parsing, hashing, constant-time comparison (Web Crypto only).
 *
 * A key reads `acd_<accountId>_<keyId>_<secret>`:
 * - `accountId` (24 hex) routes the key to its account's Durable Object, which holds the key's hash and its
 *   revocation flag. The key -> account index is therefore the key itself plus one strongly consistent DO: no KV,
 *   so a revocation is effective on the very next request.
 * - `keyId` (8 hex) names the key inside its account; `acd_<accountId>_<keyId>` is the key's public prefix, shown in
 *   listings and used to revoke it.
 * - `secret` is 32 random bytes (base64url, 43 chars): the part that makes the key unguessable.
 * Only SHA-256(key) is stored; the key itself is returned once, at creation.
 */

export const KEY_SCHEME = "acd";
const KEY_PATTERN = /^acd_([0-9a-f]{24})_([0-9a-f]{8})_([A-Za-z0-9_-]{43})$/;
const PREFIX_PATTERN = /^acd_([0-9a-f]{24})_([0-9a-f]{8})$/;
const ACCOUNT_ID_PATTERN = /^[0-9a-f]{24}$/;
export const SECRET_BYTES = 32;

export interface ParsedKey {
  accountId: string;
  keyId: string;
  /** `acd_<accountId>_<keyId>`: identifies the key without revealing it. */
  prefix: string;
}

export interface NewKey extends ParsedKey {
  /** The full key, to be shown once and never stored. */
  key: string;
}

function hex(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += bytes[i].toString(16).padStart(2, "0");
  return s;
}

function base64url(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomBytes(n: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(n));
}

/** 96 random bits: unguessable enough that account ids need no uniqueness check. */
export function generateAccountId(): string {
  return hex(randomBytes(12));
}

export function isAccountId(id: string): boolean {
  return ACCOUNT_ID_PATTERN.test(id);
}

export function generateKeyId(): string {
  return hex(randomBytes(4));
}

export function keyPrefix(accountId: string, keyId: string): string {
  return `${KEY_SCHEME}_${accountId}_${keyId}`;
}

export function generateApiKey(accountId: string, keyId = generateKeyId()): NewKey {
  if (!isAccountId(accountId)) throw new Error(`invalid account id: ${accountId}`);
  const prefix = keyPrefix(accountId, keyId);
  return { accountId, keyId, prefix, key: `${prefix}_${base64url(randomBytes(SECRET_BYTES))}` };
}

/** Structural parse only: a well-formed key may still be unknown or revoked. */
export function parseApiKey(key: string): ParsedKey | null {
  const m = KEY_PATTERN.exec(key);
  if (!m) return null;
  return { accountId: m[1], keyId: m[2], prefix: keyPrefix(m[1], m[2]) };
}

export function parseKeyPrefix(prefix: string): ParsedKey | null {
  const m = PREFIX_PATTERN.exec(prefix);
  if (!m) return null;
  return { accountId: m[1], keyId: m[2], prefix };
}

/** `Authorization: Bearer <token>` -> token, or null. */
export function bearerToken(authorization: string | null | undefined): string | null {
  if (!authorization) return null;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
  return m ? m[1] : null;
}

export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return hex(new Uint8Array(digest));
}

/** Stored form of a key. */
export function hashApiKey(key: string): Promise<string> {
  return sha256Hex(key);
}

/**
 * Compares two equal-length strings in time independent of where they differ.
 * Callers hash secrets first so that the lengths are public (64 hex chars) and equal.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/**
 * Constant-time comparison of a presented secret with the expected one. Both are hashed first so that neither the
 * position of the first difference nor the expected length leaks through timing.
 */
export async function secretsEqual(presented: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([sha256Hex(presented), sha256Hex(expected)]);
  return constantTimeEqual(a, b);
}
