/**
 * A job's persistent state, kept by its JobDO (one Durable Object per job, so every transition is serialised and
 * strongly consistent). Public representations are derived from it in routes/; money lives in the AccountDO.
 */
import type {
  ArtifactKind,
  FailureCode,
  ImageFormat,
  JobStatus,
  Quote,
  RenderPhases,
  ResolvedRequest,
  RunnerEvent,
  WebhookRequest,
} from "@accdiff/shared";
import type { BlobRef } from "./blob";

/** A stored blob the job can serve: computed by one of its attempts, or reused from the cache. */
export interface ArtifactRef extends BlobRef {
  kind: ArtifactKind;
  /** Phase (scale) it belongs to; null for phase-independent ones (attention maps, tokens). */
  phase: number | null;
  source: "computed" | "cache";
  /** The attempt that produced it (0 for cache). */
  attempt: number;
}

/** What the cache served and what a runner must compute (the response's `cache` field). */
export interface CacheUse {
  phase1: "hit" | "miss";
  /** Upscaling phases (k >= 2) served from the cache. */
  phases: number[];
  /** Phases a runner computes. */
  computed: number[];
  /** True when the patch prompts of the computed phases are derived again from cached attention maps (c changed). */
  patchPromptsRecomputed: boolean;
}

export interface Progress {
  phase: number;
  step: number;
  steps: number;
  percent: number;
  etaMs?: number;
}

export type BillingState = "reserved" | "captured" | "released";

export interface JobState {
  id: string;
  /** Increases on every change (SSE streams and long polls wait on it). */
  version: number;
  accountId: string;
  keyId: string;
  idempotencyKey: string | null;
  /** SHA-256 of the canonical request, to tell a retry from a different request under the same Idempotency-Key. */
  requestHash: string;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
  /** Base URL runners call back (callbacks, uploads, artifact downloads). */
  base: string;
  backend: "runner" | "replicate" | "cache";
  params: ResolvedRequest;
  bundleId: string;
  baseResolution: number;
  /** The render's phases and sizes, computed once when the job was accepted (absent in older states: renderOf). */
  render?: RenderPhases;
  /** The phases of the render, [1, 2, ..., S]. */
  scales: number[];
  cacheKeys: { phase1: string; phases: Record<string, string> };
  cache: CacheUse;
  /** Phases (all of them, including phase 1) served from cache when the job was accepted: the price's cached lines. */
  cachedAtStart: number[];
  quote: Quote;
  billing: { state: BillingState; reserved: number; charged: number };
  /** The AccountDO has not confirmed the latest capture/release yet (retried from the alarm; both are idempotent). */
  billingPending: boolean;
  status: JobStatus;
  attempt: number;
  dispatch: {
    /** Runner base URL or Replicate prediction id of the current attempt. */
    target: string | null;
    /** Failed dispatch tries of the current attempt (backoff). */
    tries: number;
    lastError: string | null;
  };
  /** What the alarm means when it fires. */
  alarm: "dispatch" | "lease" | null;
  /**
   * When alarm is "lease": its deadline. The alarm expires the lease only once this has passed, so an alarm that fires
   * while a renewal waits for the lock (or a stale one) cannot re-dispatch a live attempt. Absent in older states.
   */
  leaseUntil?: number | null;
  /** The runner's queue position from its latest `accepted` while the job waits there (0: starting); else null. */
  queuePosition?: number | null;
  /** Ordering of the current attempt's events. */
  seq: { attempt: number; next: number; pending: Record<string, RunnerEvent> };
  progress: Progress | null;
  artifacts: ArtifactRef[];
  /** Phases whose image is available (from cache or computed). */
  phasesDone: number[];
  /** Cache records this job wrote (so that each is written once). */
  cacheWritten: string[];
  warnings: string[];
  /**
   * Why the job failed: `reason` is the internal text (logs and the view's debug field), `code` the stable code the
   * view shows (shared failures.ts; absent in jobs stored before codes existed: the view classifies the reason).
   */
  error: { reason: string; retryable: boolean; code?: FailureCode } | null;
  result: {
    width: number;
    height: number;
    phasesComputed: number[];
    modelEvaluations: Record<string, unknown>;
    timingsMs: Record<string, number>;
  } | null;
  /** Replicate webhook ids already applied (the Replicate backend has no sequence numbers). */
  webhookIds: string[];
  /** Number of applied events in the event log (storage keys `log:<n>`). */
  logLength: number;
  /** Where the client wants to be called back (webhooks/); absent in states saved before webhooks existed. */
  webhook?: WebhookRequest | null;
}

export function isFinished(s: Pick<JobState, "status">): boolean {
  return s.status === "succeeded" || s.status === "failed" || s.status === "cancelled";
}

export const FORMAT_CONTENT_TYPES: Record<ImageFormat, string> = {
  png: "image/png",
  webp: "image/webp",
  jpeg: "image/jpeg",
};

export function formatOfContentType(ct: string): ImageFormat | null {
  const t = ct.split(";")[0].trim().toLowerCase();
  if (t === "image/png") return "png";
  if (t === "image/webp") return "webp";
  if (t === "image/jpeg" || t === "image/jpg") return "jpeg";
  return null;
}
