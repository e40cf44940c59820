/**
 * Starts the runner service: HTTP on the given port, the job manager, and graceful SIGTERM handling
 * (stop taking jobs, hand the running one back as a retryable failure, deliver its events, exit).
 */
import type { AddressInfo } from "node:net";
import { memoryReplayGuard } from "@accdiff/shared";
import { serve } from "@hono/node-server";
import { createRunnerApp } from "./app";
import type { JobEngine } from "./engine";
import { DEFAULT_RETRY, type RetryPolicy } from "./http";
import { JobManager } from "./jobs";
import { fileJournal, type Journal, memoryJournal } from "./journal";
import { jsonLogger, type Logger } from "./log";

export interface RunnerServiceOptions {
  engine: JobEngine;
  secret: string;
  port?: number;
  hostname?: string;
  queueCapacity?: number;
  /** Directory of the job journal; in memory when absent. */
  stateDir?: string;
  journal?: Journal;
  log?: Logger;
  version?: string;
  retry?: RetryPolicy;
  progressIntervalMs?: number;
  /** The longest a job in hand stays silent towards the worker (default 10 s; a job may name a shorter one). */
  heartbeatMs?: number;
  /** Deadline of one try of a request to the worker (default 30 s; uploads get more in proportion to their size). */
  requestTimeoutMs?: number;
  /** The largest request body the API reads (default 1 MB). */
  maxBodyBytes?: number;
  fetch?: typeof fetch;
}

export interface RunnerService {
  url: string;
  port: number;
  manager: JobManager;
  /** Graceful stop: drain jobs, then close the HTTP server. */
  shutdown(): Promise<void>;
}

export async function startRunnerService(o: RunnerServiceOptions): Promise<RunnerService> {
  if (!o.secret) throw new Error("RUNNER_SECRET is required: the runner only accepts signed jobs");
  const log = o.log ?? jsonLogger();
  const http = {
    secret: o.secret,
    fetch: o.fetch ?? fetch,
    retry: o.retry ?? DEFAULT_RETRY,
    log,
    timeoutMs: o.requestTimeoutMs,
  };
  const journal = o.journal ?? (o.stateDir ? fileJournal(o.stateDir) : memoryJournal());
  const manager = new JobManager({
    engine: o.engine,
    http,
    journal,
    queueCapacity: o.queueCapacity ?? 4,
    progressIntervalMs: o.progressIntervalMs,
    heartbeatMs: o.heartbeatMs,
  });
  const app = createRunnerApp({
    manager,
    engine: o.engine,
    secret: o.secret,
    seen: memoryReplayGuard(),
    version: o.version ?? "dev",
    log,
    maxBodyBytes: o.maxBodyBytes,
  });
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, port: o.port ?? 0, hostname: o.hostname ?? "127.0.0.1" }, () => resolve(s));
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${o.hostname ?? "127.0.0.1"}:${port}`;
  log.info("runner listening", { url });
  let stopping: Promise<void> | null = null;
  return {
    url,
    port,
    manager,
    shutdown() {
      stopping ??= (async () => {
        log.info("shutting down: draining jobs");
        await manager.drain();
        await new Promise<void>((r) => server.close(() => r()));
        log.info("stopped");
      })();
      return stopping;
    },
  };
}

/** SIGTERM/SIGINT: graceful shutdown, then exit. */
export function exitOnSignals(service: RunnerService): void {
  const stop = (sig: string) => {
    void service.shutdown().then(() => process.exit(sig === "SIGINT" ? 130 : 0));
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
}
