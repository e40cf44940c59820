/**
 * Cache-aware planning of a render, before anything is dispatched or priced:
 * - full hit: the final phase's image (in the requested format) is cached -> answered at once, no runner;
 * - resume: phase 1 and the deepest phase k with latents and image are cached -> the runner computes k+1..S;
 *   with k = 1 this covers a change of c only (every upscaling key changes, phase 1 does not): the runner derives the
 *   patch prompts again from the cached attention maps instead of re-running phase 1;
 * - miss: everything is computed.
 * Every blob a plan relies on is checked in R2, so an expired blob turns into a miss rather than a broken job.
 */
import type { ImageFormat, ResolvedRequest } from "@accdiff/shared";
import type { ArtifactRef, CacheUse } from "../jobs/types";
import { type RenderKeys, renderKeys } from "./keys";
import { type BlobRef, type Phase1Record, type PhaseRecord, readPhase, readPhase1 } from "./records";

export interface RenderPlan {
  keys: RenderKeys;
  fullHit: boolean;
  /** Deepest cached phase the runner resumes from (null: compute from scratch). */
  resumeFrom: number | null;
  /** Phases served from the cache (priced at the cached rate). */
  cachedPhases: number[];
  cache: CacheUse;
  /** The cached artifacts the job starts with. */
  artifacts: ArtifactRef[];
}

function ref(kind: ArtifactRef["kind"], phase: number | null, b: BlobRef): ArtifactRef {
  return {
    kind,
    phase,
    r2Key: b.r2Key,
    contentType: b.contentType,
    bytes: b.bytes,
    sha256: b.sha256,
    width: b.width,
    height: b.height,
    meta: b.meta,
    source: "cache",
    attempt: 0,
  };
}

/** The artifacts a phase-1 record stands for. */
export function phase1Artifacts(p1: Phase1Record): ArtifactRef[] {
  const out = [
    ref("lowres_latents", 1, p1.latents),
    ref("attention_maps", null, p1.attentionMaps),
    ref("tokens", null, p1.tokens),
  ];
  for (const b of Object.values(p1.images)) if (b) out.push(ref("lowres_image", 1, b));
  return out;
}

/** The artifacts a phase-k record stands for; the last phase's images are also the final image. */
export function phaseArtifacts(rec: PhaseRecord, isLast: boolean): ArtifactRef[] {
  const out: ArtifactRef[] = [];
  for (const b of Object.values(rec.images)) {
    if (!b) continue;
    out.push(ref("phase_image", rec.phase, b));
    if (isLast) out.push(ref("final_image", null, b));
  }
  if (rec.latents) out.push(ref("phase_latents", rec.phase, rec.latents));
  if (rec.canny) out.push(ref("canny", rec.phase, rec.canny));
  if (rec.patchPrompts) out.push(ref("patch_prompts", rec.phase, rec.patchPrompts));
  return out;
}

async function allExist(bucket: R2Bucket, blobs: (BlobRef | undefined)[]): Promise<boolean> {
  const heads = await Promise.all(blobs.map((b) => (b ? bucket.head(b.r2Key) : Promise.resolve(null))));
  return heads.every((h, i) => h !== null && h.size === blobs[i]?.bytes);
}

function anyImage(images: Partial<Record<ImageFormat, BlobRef>>): BlobRef | undefined {
  return images.png ?? images.webp ?? images.jpeg;
}

export async function planRender(
  env: { CACHE: KVNamespace; IMAGES: R2Bucket },
  bundleHash: string,
  r: ResolvedRequest,
  baseResolution: number,
): Promise<RenderPlan> {
  const keys = await renderKeys(bundleHash, r, baseResolution);
  const S = keys.scales[keys.scales.length - 1];
  const upscales = keys.scales.filter((k) => k > 1);
  const [p1, ...recs] = await Promise.all([
    readPhase1(env.CACHE, keys.phase1),
    ...upscales.map((k) => readPhase(env.CACHE, keys.phases[String(k)])),
  ]);
  const byPhase = new Map<number, PhaseRecord>();
  upscales.forEach((k, i) => {
    const rec = recs[i];
    if (rec && rec.key === keys.phases[String(k)] && rec.phase === k) byPhase.set(k, rec);
  });
  const phase1 =
    p1 && p1.key === keys.phase1 && (await allExist(env.IMAGES, [p1.latents, p1.attentionMaps, p1.tokens])) ? p1 : null;

  // Full hit: the final image exists in the requested format.
  const finalBlob = S === 1 ? phase1?.images[r.format] : byPhase.get(S)?.images[r.format];
  if (finalBlob && (await allExist(env.IMAGES, [finalBlob]))) {
    const artifacts: ArtifactRef[] = phase1 ? phase1Artifacts(phase1) : [];
    for (const k of upscales) {
      const rec = byPhase.get(k);
      if (rec) artifacts.push(...phaseArtifacts(rec, k === S));
    }
    if (S === 1) artifacts.push(ref("final_image", null, finalBlob));
    return {
      keys,
      fullHit: true,
      resumeFrom: null,
      cachedPhases: [...keys.scales],
      cache: { phase1: phase1 ? "hit" : "miss", phases: upscales, computed: [], patchPromptsRecomputed: false },
      artifacts,
    };
  }

  // Resume: phase 1 plus the deepest earlier phase with latents and an image (checked from the deepest down).
  let resumeFrom: number | null = null;
  const artifacts: ArtifactRef[] = [];
  if (phase1 && anyImage(phase1.images)) {
    resumeFrom = 1;
    for (const k of [...upscales].reverse()) {
      if (k === S) continue;
      const rec = byPhase.get(k);
      if (rec?.latents && anyImage(rec.images) && (await allExist(env.IMAGES, [rec.latents, anyImage(rec.images)]))) {
        resumeFrom = k;
        break;
      }
    }
    artifacts.push(...phase1Artifacts(phase1));
    for (const k of upscales) {
      const rec = byPhase.get(k);
      if (k <= resumeFrom && rec) artifacts.push(...phaseArtifacts(rec, false));
    }
  }
  const cachedPhases = resumeFrom === null ? [] : keys.scales.filter((k) => k <= resumeFrom);
  const computed = keys.scales.filter((k) => !cachedPhases.includes(k));
  return {
    keys,
    fullHit: false,
    resumeFrom,
    cachedPhases,
    cache: {
      phase1: resumeFrom === null ? "miss" : "hit",
      phases: cachedPhases.filter((k) => k > 1),
      computed,
      patchPromptsRecomputed: resumeFrom !== null && r.switches.patchPrompts,
    },
    artifacts,
  };
}
