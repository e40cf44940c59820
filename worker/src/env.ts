/**
 * The worker's bindings and configuration. Bindings and vars come from wrangler.toml, secrets from `.dev.vars` locally
 * and `wrangler secret put` in production. Everything numeric arrives as a string and is parsed once in `configOf`.
 */
import { DEFAULT_LIMITS, type RequestLimits } from "@accdiff/shared";

export interface Env {
  /** Small cache records: phase-1 results, patch-prompt metadata, phase-k pointers. Never money or job state. */
  CACHE: KVNamespace;
  /** Every image and latent blob: uploads, runner artifacts (which the cache points at). */
  IMAGES: R2Bucket;
  /** One JobDO per job: state machine, event log, lease alarm. */
  JOBS: DurableObjectNamespace;
  /** One AccountDO per account (accounts/ — the billing issue). */
  ACCOUNTS: DurableObjectNamespace;
  /** Comma-separated base URLs of the runner pool. */
  RUNNER_URLS: string;
  /** HMAC secret shared with the runners (jobs out, events and uploads in). */
  RUNNER_SECRET: string;
  DISPATCH_BACKEND: "runner" | "replicate";
  REPLICATE_API_TOKEN?: string;
  /** "owner/name" (official model), "owner/name:version", or "deployments/owner/name". */
  REPLICATE_MODEL?: string;
  /** "whsec_<base64>" as Replicate shows it. */
  REPLICATE_WEBHOOK_SECRET?: string;
  /** Defaults to https://api.replicate.com/v1 (tests point it at a fake on loopback). */
  REPLICATE_API_BASE?: string;
  ADMIN_TOKEN: string;
  /**
   * Where clients, runners and Replicate reach this worker (links, callbacks, uploads, artifact downloads). Required:
   * never taken from the request's Host (http/publicBase.ts).
   */
  PUBLIC_BASE_URL?: string;
  /** "true" only in `.dev.vars`: without PUBLIC_BASE_URL, a request to a loopback address uses its own origin. */
  LOCAL_DEV?: string;
  /** Signs short-lived download URLs. */
  URL_SIGNING_SECRET: string;
  RATE_LIMIT_BURST?: string;
  RATE_LIMIT_PER_SECOND?: string;
  /** The model bundle renders run on; its hash enters every cache key. */
  BUNDLE_ID?: string;
  BUNDLE_HASH?: string;
  /** The bundle's base resolution (1024 for SDXL, 512 for the toy world). */
  BASE_RESOLUTION?: string;
  /** Longest side allowed (default 4096, at most 8192). */
  MAX_SIDE?: string;
  /** A running job whose runner says nothing for this long is re-dispatched. */
  LEASE_SECONDS?: string;
  /**
   * How often a runner repeats itself while it holds a job (sent in every RunnerJob). A runner that misses two of
   * these keep-alives is probed, and re-dispatched from when the probe proves it dead (jobs/liveness.ts).
   */
  HEARTBEAT_SECONDS?: string;
  /** Dispatch attempts (runner crashes) before a job fails. */
  MAX_ATTEMPTS?: string;
  /** How long a runner may take to answer a dispatch or a cancel (default 10000). */
  DISPATCH_TIMEOUT_MS?: string;
  /** Origins allowed to call the public API from a browser: comma-separated, or `*` (middleware/cors.ts). */
  CORS_ORIGINS?: string;
  /** Limits on what a client may send. */
  MAX_UPLOAD_BYTES?: string;
  MAX_UPLOAD_PIXELS?: string;
  /** DNS-over-HTTPS (JSON) resolver that webhook hosts are checked with (default Cloudflare's). */
  WEBHOOK_DNS_URL?: string;
  /** Seconds between webhook attempts, comma-separated (one retry per entry). */
  WEBHOOK_RETRY_SECONDS?: string;
  /** How long a webhook receiver may take to answer (default 10000). */
  WEBHOOK_TIMEOUT_MS?: string;
}

export interface WebhookConfig {
  allowLoopback: boolean;
  dnsUrl: string;
  retrySeconds: number[];
  timeoutMs: number;
}

/** 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h: nine attempts over about eight hours. */
export const DEFAULT_WEBHOOK_RETRY_SECONDS = [5, 30, 120, 600, 1800, 3600, 7200, 14400];

export interface WorkerConfig {
  bundleId: string;
  bundleHash: string;
  limits: RequestLimits;
  leaseMs: number;
  heartbeatMs: number;
  maxAttempts: number;
  dispatchTimeoutMs: number;
  maxUploadBytes: number;
  maxUploadPixels: number;
  /** JSON bodies without an embedded image. */
  maxJsonBytes: number;
  /** Lifetime of signed download URLs handed to clients and runners. */
  signedUrlSeconds: number;
  webhooks: WebhookConfig;
}

function int(value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined || value === "") return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`bad configuration value ${JSON.stringify(value)}`);
  return n;
}

export function configOf(env: Env): WorkerConfig {
  const baseResolution = int(env.BASE_RESOLUTION, DEFAULT_LIMITS.baseResolution, 64, 4096);
  const bundleId = env.BUNDLE_ID || "sdxl-base-1.0";
  return {
    bundleId,
    bundleHash: env.BUNDLE_HASH || bundleId,
    limits: {
      ...DEFAULT_LIMITS,
      baseResolution,
      maxSide: int(env.MAX_SIDE, DEFAULT_LIMITS.maxSide, baseResolution, DEFAULT_LIMITS.hardMaxSide),
    },
    leaseMs: int(env.LEASE_SECONDS, 180, 1, 86_400) * 1000,
    heartbeatMs: int(env.HEARTBEAT_SECONDS, 10, 1, 600) * 1000,
    maxAttempts: int(env.MAX_ATTEMPTS, 4, 1, 100),
    dispatchTimeoutMs: int(env.DISPATCH_TIMEOUT_MS, 10_000, 100, 120_000),
    maxUploadBytes: int(env.MAX_UPLOAD_BYTES, 20 * 1024 * 1024, 1024, 100 * 1024 * 1024),
    maxUploadPixels: int(env.MAX_UPLOAD_PIXELS, 4096 * 4096, 64 * 64, 16384 * 16384),
    maxJsonBytes: 64 * 1024,
    signedUrlSeconds: 15 * 60,
    webhooks: webhookConfigOf(env),
  };
}

function webhookConfigOf(env: Env): WebhookConfig {
  const raw = env.WEBHOOK_RETRY_SECONDS;
  const retrySeconds =
    raw === undefined || raw.trim() === ""
      ? DEFAULT_WEBHOOK_RETRY_SECONDS
      : raw.split(",").map((v) => int(v.trim(), 0, 1, 86_400));
  if (retrySeconds.length > 20) throw new Error("WEBHOOK_RETRY_SECONDS: at most 20 retries");
  return {
    // Local development (LOCAL_DEV, .dev.vars only) may call webhooks back on loopback, over plain HTTP.
    allowLoopback: env.LOCAL_DEV === "true",
    dnsUrl: env.WEBHOOK_DNS_URL || "https://cloudflare-dns.com/dns-query",
    retrySeconds,
    timeoutMs: int(env.WEBHOOK_TIMEOUT_MS, 10_000, 100, 60_000),
  };
}

/** The runner pool, in configuration order. */
export function runnerUrls(env: Env): string[] {
  return env.RUNNER_URLS.split(",")
    .map((s) => s.trim().replace(/\/+$/, ""))
    .filter((s) => s.length > 0);
}
