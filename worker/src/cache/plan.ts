/**
 * Cache-aware planning of a render, before anything is dispatched or priced:
 * - full hit: the final phase's image (in the requested format) is cached -> answered at once, no runner;
 * - resume: phase 1 and the deepest phase k with latents and image are cached -> the runner computes k+1..S;
 *   with k = 1 this covers a change of c only (every upscaling key changes, phase 1 does not): the runner derives the
 *   patch prompts again from the cached attention maps instead of re-running phase 1;
 * - miss: everything is computed.
 * Every blob a plan relies on is checked in R2, so an expired blob turns into a miss rather than a broken job.
 *
 * From an image (RenderPhases.refinesPhase1), phase 1 is the encoded image (level 1) and its scale-1 refinement (its
 * own record, phases["1"]): a full hit at 1x serves the refinement, as the job that computed it returned; a resume
 * from phase 1 resumes from the encoded image, so the runner refines again and phase 1 is priced as computed.
 */
import type { ImageFormat, RenderPhases, ResolvedRequest } from "@accdiff/shared";
import type { BlobRef } from "../domain/blob";
import type { ArtifactRef, CacheUse } from "../domain/job";
import { type RenderKeys, renderKeys } from "./keys";
import { type Phase1Record, type PhaseRecord, readPhase, readPhase1 } from "./records";

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
  render: RenderPhases,
): Promise<RenderPlan> {
  const keys = await renderKeys(bundleHash, r, render);
  const S = keys.scales[keys.scales.length - 1];
  const upscales = keys.scales.filter((k) => k > 1);
  const refines = render.refinesPhase1;
  // Phases with a level-k record: the upscaling ones, and phase 1 when it is an image's refinement.
  const pointed = keys.scales.filter((k) => keys.phases[String(k)] !== undefined);
  const [p1, ...recs] = await Promise.all([
    readPhase1(env.CACHE, keys.phase1),
    ...pointed.map((k) => readPhase(env.CACHE, keys.phases[String(k)])),
  ]);
  const byPhase = new Map<number, PhaseRecord>();
  pointed.forEach((k, i) => {
    const rec = recs[i];
    if (rec && rec.key === keys.phases[String(k)] && rec.phase === k) byPhase.set(k, rec);
  });
  const phase1 =
    p1 && p1.key === keys.phase1 && (await allExist(env.IMAGES, [p1.latents, p1.attentionMaps, p1.tokens])) ? p1 : null;

  // Full hit: the final image exists in the requested format (the last phase's own record, except a generated 1x,
  // whose final image is phase 1's).
  const finalFromPhase1 = S === 1 && !refines;
  const finalBlob = finalFromPhase1 ? phase1?.images[r.format] : byPhase.get(S)?.images[r.format];
  if (finalBlob && (await allExist(env.IMAGES, [finalBlob]))) {
    const artifacts: ArtifactRef[] = phase1 ? phase1Artifacts(phase1) : [];
    for (const k of pointed) {
      const rec = byPhase.get(k);
      if (rec) artifacts.push(...phaseArtifacts(rec, k === S));
    }
    if (finalFromPhase1) artifacts.push(ref("final_image", null, finalBlob));
    return {
      keys,
      fullHit: true,
      resumeFrom: null,
      cachedPhases: [...keys.scales],
      cache: { phase1: phase1 ? "hit" : "miss", phases: upscales, computed: [], patchPromptsRecomputed: false },
      artifacts,
    };
  }

  // Resume: phase 1 plus the deepest earlier phase with latents and an image (checked from the deepest down). A 1x
  // render has nothing to resume into: it is computed whole.
  let resumeFrom: number | null = null;
  const artifacts: ArtifactRef[] = [];
  if (phase1 && anyImage(phase1.images) && S > 1) {
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
    for (const k of pointed) {
      const rec = byPhase.get(k);
      // The refinement is served only when the runner resumes past it (from phase 1 it refines again).
      if (rec && (k < resumeFrom || (k === resumeFrom && k > 1))) artifacts.push(...phaseArtifacts(rec, false));
    }
  }
  const resumesBeforeRefinement = refines && resumeFrom === 1;
  const cachedPhases = resumeFrom === null || resumesBeforeRefinement ? [] : keys.scales.filter((k) => k <= resumeFrom);
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
