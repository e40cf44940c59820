/**
 * Filling the cache from a job's computed artifacts (called by the JobDO as the runner's uploads are confirmed).
 * Records only point at the job's own R2 blobs: nothing is copied.
 */
import type { ImageFormat } from "@accdiff/shared";
import type { BlobRef } from "../domain/blob";
import { type ArtifactRef, formatOfContentType, type JobState } from "../domain/job";
import { type Phase1Record, type PhaseRecord, writePhase, writePhase1 } from "./records";

function blob(a: ArtifactRef): BlobRef {
  const b: BlobRef = { r2Key: a.r2Key, contentType: a.contentType, bytes: a.bytes, sha256: a.sha256 };
  if (a.width !== undefined) b.width = a.width;
  if (a.height !== undefined) b.height = a.height;
  if (a.meta !== undefined) b.meta = a.meta;
  return b;
}

function find(s: JobState, kind: ArtifactRef["kind"], phase: number | null): ArtifactRef | undefined {
  return s.artifacts.find((a) => a.kind === kind && a.phase === phase);
}

function imagesOf(arts: ArtifactRef[]): Partial<Record<ImageFormat, BlobRef>> {
  const out: Partial<Record<ImageFormat, BlobRef>> = {};
  for (const a of arts) {
    const f = formatOfContentType(a.contentType);
    if (f && !out[f]) out[f] = blob(a);
  }
  return out;
}

/**
 * Builds the record of `phase` from the job's artifacts; null when something it needs is missing. Phase 1 is the
 * level-1 record, or with `refinement` the level-k record of an image's scale-1 refinement (keys.ts refinesPhase1).
 */
export function recordFor(
  s: JobState,
  phase: number,
  now: number,
  refinement = false,
): Phase1Record | PhaseRecord | null {
  const last = s.scales[s.scales.length - 1];
  if (phase === 1 && !refinement) {
    const latents = find(s, "lowres_latents", 1);
    const attentionMaps = find(s, "attention_maps", null);
    const tokens = find(s, "tokens", null);
    const images = imagesOf(s.artifacts.filter((a) => a.kind === "lowres_image"));
    if (!latents || !attentionMaps || !tokens || Object.keys(images).length === 0) return null;
    return {
      v: 1,
      key: s.cacheKeys.phase1,
      jobId: s.id,
      createdAt: now,
      images,
      latents: blob(latents),
      attentionMaps: blob(attentionMaps),
      tokens: blob(tokens),
    };
  }
  const key = s.cacheKeys.phases[String(phase)];
  const imageArts = s.artifacts.filter(
    (a) => (a.kind === "phase_image" && a.phase === phase) || (phase === last && a.kind === "final_image"),
  );
  const images = imagesOf(imageArts);
  const first = imageArts[0];
  if (!key || !first) return null;
  const rec: PhaseRecord = {
    v: 1,
    key,
    phase,
    jobId: s.id,
    createdAt: now,
    width: first.width ?? (phase === last ? s.params.width : 0),
    height: first.height ?? (phase === last ? s.params.height : 0),
    images,
  };
  const latents = find(s, "phase_latents", phase);
  const canny = find(s, "canny", phase);
  const prompts = find(s, "patch_prompts", phase);
  if (latents) rec.latents = blob(latents);
  if (canny) rec.canny = blob(canny);
  if (prompts) rec.patchPrompts = blob(prompts);
  return rec;
}

/** Writes the record of `phase`; returns whether it was written. */
export async function writePhaseRecord(
  env: { CACHE: KVNamespace },
  s: JobState,
  phase: number,
  now: number,
  refinement = false,
) {
  const rec = recordFor(s, phase, now, refinement);
  if (!rec) return false;
  if (phase === 1 && !refinement) await writePhase1(env.CACHE, rec as Phase1Record);
  else await writePhase(env.CACHE, rec as PhaseRecord);
  return true;
}
