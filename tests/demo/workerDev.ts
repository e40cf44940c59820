/**
 * The edge worker in the local Workers runtime, through wrangler's programmatic API (what `wrangler dev` runs):
 * wrangler.toml's bindings with local KV, R2 and Durable Objects persisted in a folder of our choosing, nothing
 * remote, no login. Secrets and the demo's settings are passed as bindings; a `.dev.vars` is neither needed nor read.
 */
import { fileURLToPath } from "node:url";
import type { unstable_startWorker } from "wrangler";
import { freePort } from "./ports";

const WRANGLER_TOML = fileURLToPath(new URL("../../wrangler.toml", import.meta.url));

export interface WorkerSettings {
  runnerUrls: string[];
  bundleId: string;
  bundleHash: string;
  baseResolution: number;
  adminToken: string;
  runnerSecret: string;
  urlSigningSecret: string;
  /** Local storage (KV, R2, Durable Objects). */
  persistDir: string;
  /** More vars, or replacements of the ones above (e.g. the Replicate backend, the local-dev webhook policy). */
  vars?: Record<string, string>;
}

export interface WorkerDev {
  url: string;
  stop(): Promise<void>;
}

type Worker = Awaited<ReturnType<typeof unstable_startWorker>>;

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/**
 * Runs `fn` and removes the signal listeners it added. Loading wrangler installs SIGINT/SIGTERM listeners that call
 * process.exit() at once (and Miniflare adds its own), which would cut the demo's own shutdown short: the runner
 * drained, the temp storage removed, one clear line. Miniflare's "exit" hook, which kills workerd, is kept.
 */
async function keepingSignalsOurs<T>(fn: () => Promise<T>): Promise<T> {
  const before = new Map(SIGNALS.map((s) => [s, new Set(process.listeners(s))]));
  try {
    return await fn();
  } finally {
    for (const s of SIGNALS) {
      for (const l of process.listeners(s)) if (!before.get(s)?.has(l)) process.removeListener(s, l);
    }
  }
}

async function startOn(port: number, s: WorkerSettings): Promise<Worker> {
  const url = `http://127.0.0.1:${port}`;
  const vars: Record<string, string> = {
    DISPATCH_BACKEND: "runner",
    RUNNER_URLS: s.runnerUrls.join(","),
    PUBLIC_BASE_URL: url,
    BUNDLE_ID: s.bundleId,
    BUNDLE_HASH: s.bundleHash,
    BASE_RESOLUTION: String(s.baseResolution),
    ADMIN_TOKEN: s.adminToken,
    RUNNER_SECRET: s.runnerSecret,
    URL_SIGNING_SECRET: s.urlSigningSecret,
    ...s.vars,
  };
  const { unstable_startWorker: startWorker } = await import("wrangler");
  const worker = await startWorker({
    config: WRANGLER_TOML,
    // Not a developer's .dev.vars (wrangler reads it when no env file is named): the demo runs on its own settings.
    // The named file does not exist, so nothing is loaded.
    envFiles: [".env.accdiff-demo-none"],
    sendMetrics: false,
    bindings: Object.fromEntries(
      Object.entries(vars).map(([name, value]) => [name, { type: "plain_text" as const, value }]),
    ),
    dev: {
      remote: false,
      persist: s.persistDir,
      inspector: false,
      watch: false,
      liveReload: false,
      logLevel: "warn",
      server: { hostname: "127.0.0.1", port },
    },
  });
  try {
    await worker.ready;
    return worker;
  } catch (e) {
    await worker.dispose().catch(() => undefined);
    throw e;
  }
}

/** Starts the worker on a free loopback port (retried when another process takes the port first). */
export async function startWorkerDev(s: WorkerSettings): Promise<WorkerDev> {
  // Without a network, the runtime would try (and warn about) fetching Cloudflare's `Request.cf` data at each start.
  process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= "false";
  let lastError: unknown;
  for (let tries = 0; tries < 3; tries++) {
    const port = await freePort();
    let worker: Worker;
    try {
      worker = await keepingSignalsOurs(() => startOn(port, s));
    } catch (e) {
      lastError = e;
      continue;
    }
    const url = (await worker.url).origin;
    if (url !== `http://127.0.0.1:${port}`) {
      // Runners call back PUBLIC_BASE_URL: a worker listening anywhere else would never hear from them.
      await worker.dispose().catch(() => undefined);
      lastError = new Error(`asked for port ${port}, the worker listens at ${url}`);
      continue;
    }
    let stopping: Promise<void> | null = null;
    return {
      url,
      stop() {
        stopping ??= worker.dispose();
        return stopping;
      },
    };
  }
  throw new Error(
    `the worker did not start: ${lastError instanceof Error ? lastError.message : String(lastError ?? "unknown")}`,
  );
}
