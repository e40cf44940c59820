/**
 * Replicate's webhooks: signed with the Standard Webhooks scheme (webhooks/standard.ts) under the secret Replicate
 * shows for the account; the webhook id then dedupes redeliveries. And how a prediction maps onto our job.
 */
import { type JobStatus, ModelEvaluationsSchema } from "@accdiff/shared";
import { z } from "zod";
import { verifyWebhook, type WebhookCheck } from "../webhooks/standard";

export { WEBHOOK_WINDOW_SECONDS, type WebhookCheck } from "../webhooks/standard";

export function verifyReplicateWebhook(
  secret: string | undefined,
  headers: Headers,
  body: string,
  now = Date.now(),
): Promise<WebhookCheck> {
  return verifyWebhook(secret, headers, body, now);
}

/** Replicate's prediction statuses on ours. */
export function mapReplicateStatus(status: string): JobStatus | null {
  switch (status) {
    case "starting":
      return "queued";
    case "processing":
      return "running";
    case "succeeded":
      return "succeeded";
    case "failed":
      return "failed";
    case "canceled":
    case "aborted":
      return "cancelled";
    default:
      return null;
  }
}

/** The output URLs of a prediction, final image last: a string, a list, or an object of either. */
export function outputUrls(output: unknown): string[] {
  if (typeof output === "string") return [output];
  if (Array.isArray(output)) return output.flatMap(outputUrls);
  if (output && typeof output === "object") {
    const o = output as Record<string, unknown>;
    const main = o.final_image ?? o.image;
    const rest = Object.entries(o)
      .filter(([k]) => k !== "final_image" && k !== "image")
      .flatMap(([, v]) => outputUrls(v));
    return [...rest, ...(main !== undefined ? outputUrls(main) : [])];
  }
  return [];
}

/** One output image: the image of a phase, or the final image (of the last phase). */
export interface OutputImage {
  url: string;
  phase: number;
  final: boolean;
}

const isUrl = (v: unknown): v is string => typeof v === "string" && /^https?:\/\//.test(v);

/**
 * The images of a prediction's output. The Cog predictor of this repository (gpu-runner/cog/predict.py) answers
 * {final_image, phase_images, phases, summary}: each phase image is named with its phase. Any other output is read
 * as a list of URLs, final image last, one per phase when there are as many as the job has phases.
 */
export function outputImages(output: unknown, scales: number[]): OutputImage[] {
  const o = output as Record<string, unknown> | null;
  const last = scales[scales.length - 1];
  if (o && typeof o === "object" && !Array.isArray(o) && isUrl(o.final_image) && Array.isArray(o.phase_images)) {
    const phases = Array.isArray(o.phases) ? o.phases : [];
    const named = o.phase_images.flatMap((url, i) => {
      const phase = phases[i];
      return isUrl(url) && typeof phase === "number" && scales.includes(phase) ? [{ url, phase, final: false }] : [];
    });
    return [...named, { url: o.final_image, phase: last, final: true }];
  }
  const urls = outputUrls(output);
  if (urls.length === 0) return [];
  const perPhase = urls.length === scales.length;
  return urls.flatMap((url, i): OutputImage[] => {
    const isLast = i === urls.length - 1;
    if (isLast) return [{ url, phase: last, final: true }];
    return perPhase ? [{ url, phase: scales[i], final: false }] : [];
  });
}

const SummarySchema = z.object({
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  phasesComputed: z.array(z.number().int().min(1)),
  modelEvaluations: ModelEvaluationsSchema,
  timingsMs: z.record(z.string(), z.number().min(0)),
  warnings: z.array(z.string()).max(100),
});
export type RunnerSummary = z.infer<typeof SummarySchema>;

/** The runner's `completed` summary the predictor returns (its `summary` output), when it is well formed. */
export function outputSummary(output: unknown): RunnerSummary | null {
  const raw = (output as Record<string, unknown> | null)?.summary;
  if (typeof raw !== "string" || raw.length > 256 * 1024) return null;
  try {
    const r = SummarySchema.safeParse(JSON.parse(raw));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

/** The phase of the latest progress line the predictor printed ("... [phase k]"), if any. */
export function progressPhase(logs: string): number | null {
  const lines = logs.split("\n").reverse();
  for (const line of lines) {
    const m = /^\s*\d+%\s*\|.+?\|\s*\d+\/\d+.*\[phase (\d+)\]/.exec(line);
    if (m) return Number(m[1]);
  }
  return null;
}
