/**
 * The public representation of a job (GET /v1/images/:id, the POST answer, and every SSE message). Download links
 * are absolute and signed for a short time, so a mobile image view can load them without the API key; the owner's
 * key works on the same paths without the signature.
 */

import { type ArtifactRef, type CacheUse, formatOfContentType, type JobState } from "../domain/job";
import { signUrl } from "../http/signedUrl";
import { debugView, failureView } from "./failureView";

const EXTENSIONS: Record<string, string> = {
  "image/png": "png",
  "image/webp": "webp",
  "image/jpeg": "jpeg",
  "application/json": "json",
  "application/x-npy": "npy",
  "text/plain": "txt",
};

export function extensionOf(contentType: string): string {
  return EXTENSIONS[contentType.split(";")[0].trim().toLowerCase()] ?? "bin";
}

/**
 * The download name of an artifact, in the vocabulary the CLI and the docs use too: `image.<ext>` (the final image),
 * `preview.<ext>` (phase 1's low-res image), `phase-<k>.<ext>` (each phase's image), and `<kind>[-<phase>].<ext>` for
 * the rest (canny-2.png, patch_prompts-3.json, tokens.json, ...).
 */
export function fileName(a: Pick<ArtifactRef, "kind" | "phase" | "contentType">): string {
  const ext = extensionOf(a.contentType);
  if (a.kind === "final_image") return `image.${ext}`;
  if (a.kind === "lowres_image") return `preview.${ext}`;
  if (a.kind === "phase_image") return `phase-${a.phase}.${ext}`;
  const phased = a.phase !== null && a.kind !== "lowres_latents";
  return `${a.kind}${phased ? `-${a.phase}` : ""}.${ext}`;
}

/** The artifact a download name designates; the final image only once the job succeeded. */
export function findFile(s: JobState, name: string): ArtifactRef | undefined {
  return s.artifacts.find((a) => fileName(a) === name && (a.kind !== "final_image" || s.status === "succeeded"));
}

/** The API's names for what the cache served (`phasesServed`/`phasesComputed`, as in `result.phasesComputed`). */
export function cacheView(c: CacheUse) {
  return {
    phase1: c.phase1,
    phasesServed: c.phases,
    phasesComputed: c.computed,
    patchPromptsRecomputed: c.patchPromptsRecomputed,
  };
}

export function filePath(jobId: string, name: string): string {
  return `/v1/images/${jobId}/files/${name}`;
}

function preferred(arts: ArtifactRef[], format: string): ArtifactRef | undefined {
  return arts.find((a) => formatOfContentType(a.contentType) === format) ?? arts[0];
}

export interface ViewOptions {
  base: string;
  urlSecret: string;
  ttlSeconds: number;
  now?: number;
}

export async function jobView(s: JobState, o: ViewOptions) {
  const now = o.now ?? Date.now();
  const url = (a: ArtifactRef) => signUrl(o.urlSecret, o.base, filePath(s.id, fileName(a)), o.ttlSeconds, now);
  const files = await Promise.all(
    s.artifacts.map(async (a) => ({
      name: fileName(a),
      kind: a.kind,
      phase: a.phase,
      contentType: a.contentType,
      bytes: a.bytes,
      sha256: a.sha256,
      width: a.width ?? null,
      height: a.height ?? null,
      source: a.source,
      meta: a.meta ?? null,
      url: await url(a),
    })),
  );
  const byName = new Map(files.map((f) => [f.name, f]));
  const pick = (a: ArtifactRef | undefined) => (a ? (byName.get(fileName(a)) ?? null) : null);
  const last = s.scales[s.scales.length - 1];
  const finalArt =
    preferred(
      s.artifacts.filter((a) => a.kind === "final_image"),
      s.params.format,
    ) ??
    preferred(
      s.artifacts.filter((a) => a.kind === "phase_image" && a.phase === last),
      s.params.format,
    );
  const previewArt = preferred(
    s.artifacts.filter((a) => a.kind === "lowres_image"),
    s.params.format,
  );
  const image = s.status === "succeeded" ? pick(finalArt) : null;
  return {
    id: s.id,
    object: "image" as const,
    status: s.status,
    queuePosition: s.status === "queued" ? (s.queuePosition ?? null) : null,
    createdAt: new Date(s.createdAt).toISOString(),
    updatedAt: new Date(s.updatedAt).toISOString(),
    finishedAt: s.finishedAt === null ? null : new Date(s.finishedAt).toISOString(),
    request: s.params,
    phases: s.scales,
    progress: {
      phase: s.progress?.phase ?? null,
      step: s.progress?.step ?? null,
      steps: s.progress?.steps ?? null,
      percent: s.status === "succeeded" ? 100 : (s.progress?.percent ?? 0),
      etaMs: s.progress?.etaMs ?? null,
      phasesDone: s.phasesDone,
    },
    cache: cacheView(s.cache),
    dispatched: s.backend !== "cache",
    attempt: s.attempt,
    quote: s.quote,
    billing: { state: s.billing.state, reserved: s.billing.reserved, charged: s.billing.charged },
    preview: pick(previewArt),
    image,
    // Each phase's result; phase 1's is the low-res image, or from an image its scale-1 refinement when there is one.
    phaseImages: s.scales
      .map((k) => {
        const own = preferred(
          s.artifacts.filter((a) => a.kind === "phase_image" && a.phase === k),
          s.params.format,
        );
        return pick(k === 1 ? (own ?? previewArt) : own);
      })
      .filter((f) => f !== null),
    files,
    result: s.result,
    warnings: s.warnings,
    error: failureView(s.error),
    debug: debugView(s.error),
    links: {
      self: `${o.base}/v1/images/${s.id}`,
      events: `${o.base}/v1/images/${s.id}/events`,
      // The same stream without the key, for EventSource (no headers); GET the job again for a fresh one.
      stream: await signUrl(o.urlSecret, o.base, `/v1/images/${s.id}/events`, o.ttlSeconds, now),
      cancel: `${o.base}/v1/images/${s.id}`,
    },
  };
}

export type JobView = Awaited<ReturnType<typeof jobView>>;
