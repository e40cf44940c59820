/**
 * Cache records in KV. KV holds only small JSON pointers (well under KV's value limit); every blob they point at lives
 * in R2 under the key of the job that computed it, and blobs are immutable, so a stale or missing record (KV is
 * eventually consistent: a fresh record may be invisible elsewhere for up to a minute) can only cause a cache miss,
 * never a wrong result. Nothing exact — money, job state — is kept here.
 *
 *   p1:<phase1Key>   level 1: low-res latents and image, aggregated attention maps, tokens
 *   pk:<phaseKey>    level k: phase k's latents and image(s) (and canny map, patch prompts), keyed by the chained
 *                    phase key
 */
import type { ArtifactKind, ImageFormat } from "@accdiff/shared";
import type { BlobRef } from "../domain/blob";

export interface Phase1Record {
  v: 1;
  key: string;
  jobId: string;
  createdAt: number;
  /** Low-res image per format (the runner uploads at least the requested one). */
  images: Partial<Record<ImageFormat, BlobRef>>;
  latents: BlobRef;
  attentionMaps: BlobRef;
  tokens: BlobRef;
}

export interface PhaseRecord {
  v: 1;
  key: string;
  phase: number;
  jobId: string;
  createdAt: number;
  width: number;
  height: number;
  images: Partial<Record<ImageFormat, BlobRef>>;
  /** Absent for results that cannot be resumed from (e.g. a Replicate output without latents). */
  latents?: BlobRef;
  canny?: BlobRef;
  patchPrompts?: BlobRef;
}

/** Records expire; R2 blobs must outlive them (configure the bucket's lifecycle rule longer than this). */
export const CACHE_TTL_SECONDS = 30 * 24 * 3600;

export const kvKey = {
  phase1: (key: string) => `p1:${key}`,
  phase: (key: string) => `pk:${key}`,
};

async function getJson<T>(kv: KVNamespace, key: string): Promise<T | null> {
  try {
    return await kv.get<T>(key, "json");
  } catch {
    // A corrupt record is a miss, not an error for the client.
    return null;
  }
}

export function readPhase1(kv: KVNamespace, key: string): Promise<Phase1Record | null> {
  return getJson<Phase1Record>(kv, kvKey.phase1(key));
}

export function readPhase(kv: KVNamespace, key: string): Promise<PhaseRecord | null> {
  return getJson<PhaseRecord>(kv, kvKey.phase(key));
}

async function put(kv: KVNamespace, key: string, value: unknown): Promise<void> {
  await kv.put(key, JSON.stringify(value), { expirationTtl: CACHE_TTL_SECONDS });
}

export function writePhase1(kv: KVNamespace, r: Phase1Record): Promise<void> {
  return put(kv, kvKey.phase1(r.key), r);
}

export function writePhase(kv: KVNamespace, r: PhaseRecord): Promise<void> {
  return put(kv, kvKey.phase(r.key), r);
}

/** The artifact kinds a phase record stands for, used when a cached phase is replayed into a new job. */
export const PHASE_KINDS: Record<"image" | "latents" | "canny" | "patchPrompts", ArtifactKind> = {
  image: "phase_image",
  latents: "phase_latents",
  canny: "canny",
  patchPrompts: "patch_prompts",
};
