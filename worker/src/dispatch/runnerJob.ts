/**
 * Builds the RunnerJob of the current attempt from the job's state: where to call back and upload, and what cached
 * work to resume from — the deepest phase the job already has (from the cache at acceptance, or computed by an
 * earlier attempt that then went silent), so a re-dispatch never recomputes finished phases.
 */
import type { Resume, RunnerJob } from "@accdiff/shared";
import type { ArtifactRef, JobState } from "../domain/job";
import { signUrl } from "../http/signedUrl";
import { uploadKey } from "../uploads/store";

/** Resume and image links must outlive a queue wait on the runner. */
export const RUNNER_LINK_SECONDS = 6 * 3600;

export function callbackPath(jobId: string): string {
  return `/internal/jobs/${jobId}/events`;
}

export function uploadPath(jobId: string, attempt: number): string {
  return `/internal/jobs/${jobId}/attempts/${attempt}/artifacts`;
}

/** R2 key of an artifact the runner PUT to `${uploadUrl}/${kind}/${name}`. */
export function artifactR2Key(jobId: string, attempt: number, relativeKey: string): string {
  return `jobs/${jobId}/${attempt}/${relativeKey}`;
}

/** The path (under /internal/blobs/) a runner downloads a blob from, with a signed link. */
export function blobPath(r2Key: string): string {
  return `/internal/blobs/${r2Key}`;
}

function pick(s: JobState, kind: ArtifactRef["kind"], phase: number | null): ArtifactRef | undefined {
  const all = s.artifacts.filter((a) => a.kind === kind && a.phase === phase);
  // Prefer a lossless image: the next phase takes its ControlNet condition from it.
  return all.find((a) => a.contentType === "image/png") ?? all[0];
}

/** The deepest phase below the last with latents and an image, given phase 1's attention maps and tokens. */
export function resumePoint(s: JobState): { phase: number; latents: ArtifactRef; image: ArtifactRef } | null {
  const last = s.scales[s.scales.length - 1];
  if (!pick(s, "attention_maps", null) || !pick(s, "tokens", null) || !pick(s, "lowres_latents", 1)) return null;
  for (const k of [...s.scales].reverse()) {
    if (k === last) continue;
    const latents = k === 1 ? pick(s, "lowres_latents", 1) : pick(s, "phase_latents", k);
    const image = k === 1 ? pick(s, "lowres_image", 1) : pick(s, "phase_image", k);
    if (latents && image) return { phase: k, latents, image };
  }
  return null;
}

/** `heartbeatMs`: the keep-alive interval the worker watches this attempt at (runner backend). */
export async function buildRunnerJob(
  s: JobState,
  urlSecret: string,
  now = Date.now(),
  heartbeatMs?: number,
): Promise<RunnerJob> {
  const link = (r2Key: string) => signUrl(urlSecret, s.base, blobPath(r2Key), RUNNER_LINK_SECONDS, now);
  const job: RunnerJob = {
    jobId: s.id,
    attempt: s.attempt,
    bundleId: s.bundleId,
    params: s.params,
    callbackUrl: `${s.base}${callbackPath(s.id)}`,
    uploadUrl: `${s.base}${uploadPath(s.id, s.attempt)}`,
    cacheKeys: s.cacheKeys,
  };
  if (heartbeatMs !== undefined && s.backend === "runner") job.heartbeatMs = heartbeatMs;
  if (s.params.image) job.imageUrl = await link(uploadKey(s.accountId, s.params.image.sha256));
  const point = resumePoint(s);
  if (point) {
    const resume: Resume = {
      fromPhase: point.phase,
      artifacts: {
        latents: await link(point.latents.r2Key),
        image: await link(point.image.r2Key),
        attentionMaps: await link(pick(s, "attention_maps", null)!.r2Key),
        tokens: await link(pick(s, "tokens", null)!.r2Key),
        lowresLatents: await link(pick(s, "lowres_latents", 1)!.r2Key),
      },
    };
    job.resume = resume;
  }
  return job;
}
