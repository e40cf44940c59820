/** A job's first state, from the accepted request and its cache plan. */
import type { Quote, RenderPhases, ResolvedRequest, WebhookRequest } from "@accdiff/shared";
import type { RenderPlan } from "../cache/plan";
import type { JobState } from "../domain/job";
import { putArtifact } from "./transitions";

export interface CreateInit {
  jobId: string;
  accountId: string;
  keyId: string;
  idempotencyKey: string | null;
  requestHash: string;
  base: string;
  backend: "runner" | "replicate";
  params: ResolvedRequest;
  bundleId: string;
  baseResolution: number;
  render: RenderPhases;
  plan: RenderPlan;
  quote: Quote;
  /** Delivery metadata: the client's webhook, if any (never part of the params or cache keys). */
  webhook: WebhookRequest | null;
}

export type CreateOutcome =
  | { kind: "created"; state: JobState }
  /** Same Idempotency-Key and same request: the job that exists. */
  | { kind: "existing"; state: JobState }
  /** Same Idempotency-Key, another request. */
  | { kind: "conflict" }
  | {
      kind: "refused";
      reason: "insufficient_funds" | "daily_quota" | "unknown_account";
      balance: number;
      available: number;
      retryAfter?: number;
    };

export function initialState(init: CreateInit, now: number): JobState {
  const { plan } = init;
  const s: JobState = {
    id: init.jobId,
    version: 1,
    accountId: init.accountId,
    keyId: init.keyId,
    idempotencyKey: init.idempotencyKey,
    requestHash: init.requestHash,
    createdAt: now,
    updatedAt: now,
    finishedAt: null,
    base: init.base,
    backend: plan.fullHit ? "cache" : init.backend,
    params: init.params,
    bundleId: init.bundleId,
    baseResolution: init.baseResolution,
    render: init.render,
    scales: plan.keys.scales,
    cacheKeys: { phase1: plan.keys.phase1, phases: plan.keys.phases },
    cache: plan.cache,
    cachedAtStart: plan.cachedPhases,
    quote: init.quote,
    billing: { state: "reserved", reserved: init.quote.price, charged: 0 },
    billingPending: false,
    status: "queued",
    attempt: 1,
    dispatch: { target: null, tries: 0, lastError: null },
    alarm: "dispatch",
    leaseUntil: null,
    queuePosition: null,
    seq: { attempt: 1, next: 0, pending: {} },
    progress: null,
    artifacts: [],
    phasesDone: [],
    cacheWritten: [],
    warnings: [],
    error: null,
    result: null,
    webhookIds: [],
    logLength: 0,
    webhook: init.webhook,
  };
  for (const a of plan.artifacts) putArtifact(s, a);
  for (const k of plan.cachedPhases) if (!s.phasesDone.includes(k)) s.phasesDone.push(k);
  s.phasesDone.sort((a, b) => a - b);
  if (plan.fullHit) {
    const last = s.scales[s.scales.length - 1];
    s.status = "succeeded";
    s.finishedAt = now;
    s.alarm = null;
    s.progress = { phase: last, step: 0, steps: 0, percent: 100 };
    s.billing = { state: "captured", reserved: init.quote.price, charged: init.quote.price };
    s.result = {
      width: init.params.width,
      height: init.params.height,
      phasesComputed: [],
      modelEvaluations: {},
      timingsMs: {},
    };
  }
  return s;
}
