/**
 * Which webhook events a job transition produces, under the job's filter, and their payloads. Each event has a fixed
 * id (the Standard Webhooks `webhook-id`): "a phase image of job J at scale k is ready" happens once, whichever
 * attempt or redelivery reports it, so receivers can dedupe on the id and the outbox queues each id once.
 */
import type { WebhookEvent } from "@accdiff/shared";
import { isFinished, type JobState } from "../domain/job";
import { jobView } from "./view";

export interface JobEventRef {
  event: WebhookEvent;
  /** The phase (scale) of a `phase` event. */
  phase: number | null;
}

/** Payload `type` per event. */
export const EVENT_TYPES: Record<WebhookEvent, string> = {
  completed: "job.completed",
  phase: "job.phase",
  failed: "job.failed",
  cancelled: "job.cancelled",
};

const FINAL_EVENT: Partial<Record<JobState["status"], WebhookEvent>> = {
  succeeded: "completed",
  failed: "failed",
  cancelled: "cancelled",
};

/** Download links in a payload outlive a retry schedule's first hours; the API key fetches fresh ones after. */
export const PAYLOAD_LINK_SECONDS = 6 * 3600;

export function eventId(jobId: string, e: JobEventRef): string {
  return `msg_${jobId}_${e.event}${e.phase !== null ? `_${e.phase}` : ""}`;
}

/** The events the change from `prev` (null: the job was just created) to `s` produces. */
export function transitionEvents(prev: JobState | null, s: JobState): JobEventRef[] {
  const hook = s.webhook;
  if (!hook) return [];
  const out: JobEventRef[] = [];
  if (hook.events.includes("phase")) {
    for (const k of s.phasesDone) {
      if (!s.cachedAtStart.includes(k) && !(prev?.phasesDone ?? []).includes(k)) out.push({ event: "phase", phase: k });
    }
  }
  const final = FINAL_EVENT[s.status];
  if (final && isFinished(s) && prev?.status !== s.status && hook.events.includes(final)) {
    out.push({ event: final, phase: null });
  }
  return out;
}

/** The JSON body: Standard Webhooks' {type, timestamp, data}; data holds the job as GET /v1/images/:id shows it. */
export async function payloadOf(s: JobState, e: JobEventRef, urlSecret: string, now: number): Promise<string> {
  const job = await jobView(s, { base: s.base, urlSecret, ttlSeconds: PAYLOAD_LINK_SECONDS, now });
  const data = e.phase !== null ? { phase: e.phase, job } : { job };
  return JSON.stringify({ type: EVENT_TYPES[e.event], timestamp: new Date(now).toISOString(), data });
}
