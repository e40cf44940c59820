/**
 * Turns a Replicate prediction (from a verified webhook, or polled when the lease runs out) into the runner events the
 * state machine already understands, so both backends share one set of rules. Output images are copied into R2 (the
 * delivery URLs expire) as the final image, and as phase images when there is one output per phase.
 */
import { type RunnerEvent, sha256Hex } from "@accdiff/shared";
import { parseProgressFromLogs } from "replicate";
import type { Prediction } from "../dispatch/replicate";
import { mapReplicateStatus, outputImages, outputSummary, progressPhase } from "../dispatch/replicateWebhook";
import { artifactR2Key } from "../dispatch/runnerJob";
import type { JobState } from "../domain/job";
import { FORMAT_CONTENT_TYPES } from "../domain/job";
import { readImageHeader } from "../uploads/imageHeader";
import type { VerifiedArtifact } from "./transitions";

export interface SynthEvent {
  event: RunnerEvent;
  artifact?: VerifiedArtifact | null;
}

const MAX_OUTPUT_BYTES = 256 * 1024 * 1024;
/** gpu-runner/cog/predict.py RETRYABLE. */
const RETRYABLE_PREFIX = "retryable: ";

async function download(url: string): Promise<Uint8Array> {
  const res = await fetch(url, { signal: AbortSignal.timeout(60_000) });
  if (!res.ok) throw new Error(`output download failed: HTTP ${res.status}`);
  const buf = new Uint8Array(await res.arrayBuffer());
  if (buf.byteLength > MAX_OUTPUT_BYTES) throw new Error("output too large");
  return buf;
}

export async function predictionEvents(
  bucket: R2Bucket,
  s: JobState,
  p: Prediction,
  now: number,
): Promise<SynthEvent[]> {
  const base = { jobId: s.id, attempt: s.attempt, seq: 0, at: new Date(now).toISOString() };
  const status = mapReplicateStatus(p.status);
  if (status === "queued") return [{ event: { ...base, type: "accepted", queuePosition: 1 } }];
  if (status === "running") {
    const pr = p.logs ? parseProgressFromLogs(p.logs) : null;
    const named = p.logs ? progressPhase(p.logs) : null;
    const phase =
      named !== null && s.scales.includes(named)
        ? named
        : (s.scales.find((k) => !s.phasesDone.includes(k)) ?? s.scales[s.scales.length - 1]);
    if (!pr) return [{ event: { ...base, type: "accepted", queuePosition: 0 } }];
    const percent = Math.max(0, Math.min(100, pr.percentage * 100));
    return [{ event: { ...base, type: "progress", phase, step: pr.current, steps: Math.max(1, pr.total), percent } }];
  }
  if (status === "failed") {
    const error = String(p.error ?? "prediction failed");
    // The predictor marks what another attempt may not meet (its runner died or went silent): dispatched again.
    const retryable = error.startsWith(RETRYABLE_PREFIX);
    const reason = `replicate: ${retryable ? error.slice(RETRYABLE_PREFIX.length) : error}`.slice(0, 2000);
    return [{ event: { ...base, type: "failed", reason, retryable } }];
  }
  if (status === "cancelled") return [{ event: { ...base, type: "cancelled", phasesCompleted: [...s.phasesDone] } }];
  if (status !== "succeeded") return [];

  const images = outputImages(p.output, s.scales);
  if (images.length === 0) {
    return [
      { event: { ...base, type: "failed", reason: "replicate: the prediction has no output", retryable: false } },
    ];
  }
  const out: SynthEvent[] = [];
  let final = { width: s.params.width, height: s.params.height };
  for (const image of images) {
    const bytes = await download(image.url);
    const header = readImageHeader(bytes);
    if (!header) throw new Error("replicate output is not a PNG, JPEG or WebP image");
    const sha256 = await sha256Hex(bytes);
    const contentType = FORMAT_CONTENT_TYPES[header.format];
    const phase = image.phase;
    const kinds = image.final ? (["final_image"] as const) : (["phase_image"] as const);
    // A list output's last URL is the last phase's image too (the predictor's object names that one itself).
    const all =
      image.final && !images.some((x) => !x.final && x.phase === phase) ? (["phase_image", ...kinds] as const) : kinds;
    for (const kind of all) {
      const key = `${kind}/output-${phase}.${header.format}`;
      const r2Key = artifactR2Key(s.id, s.attempt, key);
      await bucket.put(r2Key, bytes, { httpMetadata: { contentType }, customMetadata: { sha256 }, sha256 });
      const event: Extract<RunnerEvent, { type: "artifact" }> = {
        ...base,
        type: "artifact",
        kind,
        phase: kind === "final_image" ? undefined : phase,
        key,
        contentType,
        bytes: bytes.byteLength,
        sha256,
        width: header.width,
        height: header.height,
      };
      out.push({ event, artifact: { ...event, r2Key } });
    }
    if (image.final) final = { width: header.width, height: header.height };
  }
  const summary = outputSummary(p.output);
  const timingsMs: Record<string, number> = {};
  if (p.metrics?.predict_time !== undefined) timingsMs.predict = Math.round(p.metrics.predict_time * 1000);
  out.push({
    event: {
      ...base,
      type: "completed",
      width: final.width,
      height: final.height,
      phasesComputed: summary?.phasesComputed ?? s.scales.filter((k) => !s.cachedAtStart.includes(k)),
      modelEvaluations: summary?.modelEvaluations ?? {},
      timingsMs: { ...summary?.timingsMs, ...timingsMs },
      warnings: summary?.warnings ?? [],
    },
  });
  return out;
}
