/**
 * Replay protection for signed runner requests, per job: each nonce is accepted once. Nonces are kept twice the
 * signature window (older requests fail the timestamp check anyway) and pruned on every write.
 */
const NONCES_KEY = "nonces";
const NONCE_TTL_MS = 2 * 300 * 1000;

/** Records `nonce`; true when it was already used (a replay). */
export async function seenBefore(storage: DurableObjectStorage, nonce: string, now: number): Promise<boolean> {
  const nonces = (await storage.get<Record<string, number>>(NONCES_KEY)) ?? {};
  if (nonces[nonce] !== undefined && nonces[nonce] > now) return true;
  for (const [n, exp] of Object.entries(nonces)) if (exp <= now) delete nonces[n];
  nonces[nonce] = now + NONCE_TTL_MS;
  await storage.put(NONCES_KEY, nonces);
  return false;
}
