/**
 * POST /v1/images after authentication and body intake: validate, plan against the cache, quote, and hand the job to
 * its Durable Object, which reserves the quote and stores the job atomically (nothing is stored on refusal).
 */
import {
  canonicalJson,
  deliveryOf,
  fromZodError,
  problemResponse,
  quote,
  resolveRequest,
  sha256Hex,
  type WebhookRequest,
} from "@accdiff/shared";
import { ZodError } from "zod";
import type { Principal } from "../accounts";
import { accountStub } from "../accounts/client";
import { planRender } from "../cache/plan";
import { configOf, type Env } from "../env";
import { badRequest, problemOf } from "../http/problems";
import { findUpload, putUpload, type StoredUpload } from "../uploads/store";
import { checkWebhookUrl } from "../webhooks/address";
import { jobStub, newJobId } from "./client";
import { jobView } from "./view";

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

export interface Submission {
  input: unknown;
  upload?: { meta: StoredUpload; bytes: Uint8Array };
  idempotencyKey: string | null;
  /** Where clients reach this worker (links in the answer). */
  clientBase: string;
  /** Where runners reach this worker (callbacks). */
  runnerBase: string;
}

function json(body: unknown, status: number, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}

/** Why a webhook cannot be accepted (a 422 naming the field), or null. */
async function webhookRefusal(env: Env, accountId: string, url: string): Promise<Response | null> {
  const invalid = (path: string, detail: string) =>
    problemOf(422, "Validation failed", detail, { errors: [{ path, message: detail }] });
  const check = await checkWebhookUrl(url, configOf(env).webhooks);
  if (!check.ok) return invalid("webhook", check.reason);
  if (!(await accountStub(env, accountId).webhookSecretInfo())) {
    return invalid(
      "webhook",
      "the account has no webhook signing secret yet: create one with POST /v1/webhooks/secret",
    );
  }
  return null;
}

export async function submitJob(env: Env, principal: Principal, sub: Submission): Promise<Response> {
  const cfg = configOf(env);
  if (sub.idempotencyKey !== null && !IDEMPOTENCY_KEY.test(sub.idempotencyKey)) {
    return badRequest("Idempotency-Key must be 1-255 visible ASCII characters");
  }
  let params: ReturnType<typeof resolveRequest>;
  let webhook: WebhookRequest | null;
  try {
    params = resolveRequest(sub.input, cfg.limits);
    webhook = deliveryOf(sub.input);
  } catch (e) {
    if (e instanceof ZodError) return problemResponse(fromZodError(e));
    throw e;
  }
  if (webhook) {
    const refused = await webhookRefusal(env, principal.accountId, webhook.url);
    if (refused) return refused;
  }
  if (params.bundle !== null && params.bundle !== cfg.bundleId) {
    const detail = `this service runs bundle ${cfg.bundleId}`;
    return problemOf(422, "Validation failed", detail, { errors: [{ path: "bundle", message: detail }] });
  }
  if (params.image) {
    if (sub.upload) await putUpload(env.IMAGES, sub.upload.meta, sub.upload.bytes);
    else if (!(await findUpload(env.IMAGES, principal.accountId, params.image.sha256))) {
      const detail = "no uploaded image with this sha256 (upload it first, or send it with the request)";
      return problemOf(422, "Validation failed", detail, { errors: [{ path: "image.sha256", message: detail }] });
    }
  }
  // The hash of what the client sent (before a random seed is drawn): a retry sends the same bytes.
  const requestHash = await sha256Hex(canonicalJson(sub.input));
  const jobId = newJobId(env.JOBS, principal.accountId, sub.idempotencyKey);
  const stub = jobStub(env.JOBS, jobId)!;
  const base = cfg.limits.baseResolution;
  const plan = await planRender(env, cfg.bundleHash, params, base);
  const q = quote(params, base, plan.cachedPhases);
  const outcome = await stub.create({
    jobId,
    accountId: principal.accountId,
    keyId: principal.keyId,
    idempotencyKey: sub.idempotencyKey,
    requestHash,
    base: sub.runnerBase,
    backend: env.DISPATCH_BACKEND === "replicate" ? "replicate" : "runner",
    params,
    bundleId: cfg.bundleId,
    baseResolution: base,
    plan,
    quote: q,
    webhook,
  });
  const view = (s: Parameters<typeof jobView>[0]) =>
    jobView(s, { base: sub.clientBase, urlSecret: env.URL_SIGNING_SECRET, ttlSeconds: cfg.signedUrlSeconds });
  switch (outcome.kind) {
    case "created": {
      const s = outcome.state;
      const headers = { location: `/v1/images/${s.id}` };
      return json(await view(s), s.status === "succeeded" ? 200 : 202, headers);
    }
    case "existing": {
      const s = outcome.state;
      const finished = s.status === "succeeded" || s.status === "failed" || s.status === "cancelled";
      return json(await view(s), finished ? 200 : 202, {
        location: `/v1/images/${s.id}`,
        "idempotent-replayed": "true",
      });
    }
    case "conflict":
      return problemOf(409, "Idempotency key reused", "this Idempotency-Key was used with a different request");
    case "refused":
      if (outcome.reason === "daily_quota") {
        return problemResponse(
          {
            type: "https://accdiff.dev/problems/daily-quota-exceeded",
            title: "Daily quota exceeded",
            status: 429,
            detail: "the account's daily job quota is used up",
          },
          { "retry-after": String(outcome.retryAfter ?? 60) },
        );
      }
      if (outcome.reason === "unknown_account") return problemOf(403, "Forbidden", "the key's account does not exist");
      return problemOf(402, "Payment required", `the quote (${q.price} ${q.unit}) exceeds the available balance`, {
        price: q.price,
        unit: q.unit,
        balance: outcome.balance,
        available: outcome.available,
      });
  }
}
