/**
 * Replicate's webhooks: signed with the Standard Webhooks scheme (webhooks/standard.ts) under the secret Replicate
 * shows for the account; the webhook id then dedupes redeliveries. And how a prediction maps onto our job.
 */
import type { JobStatus } from "@accdiff/shared";
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
