/**
 * The runner's HTTP API (Hono). Every /v1 route requires a request signed by the worker (shared/signing);
 * unsigned, expired, replayed or malformed requests are refused before anything starts.
 */
import {
  checkSignatureHeaders,
  fromZodError,
  problem,
  problemResponse,
  RunnerJobSchema,
  UNKNOWN_ATTEMPT_TYPE,
  verifyRequest,
} from "@accdiff/shared";
import { type Context, Hono, type Next } from "hono";
import type { JobEngine } from "./engine";
import type { JobManager } from "./jobs";
import type { Logger } from "./log";

export interface RunnerAppDeps {
  manager: JobManager;
  engine: JobEngine;
  secret: string;
  /** Returns true when the nonce was seen before (and records it otherwise). */
  seen: (nonce: string) => boolean | Promise<boolean>;
  version: string;
  log: Logger;
  maxBodyBytes?: number;
}

type Env = { Variables: { body: string } };

/** The request body, or null as soon as it passes `max` bytes (the rest is not read). */
async function readBounded(req: Request, max: number): Promise<Uint8Array | null> {
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const ch of chunks) {
    out.set(ch, at);
    at += ch.byteLength;
  }
  return out;
}

export function createRunnerApp(deps: RunnerAppDeps): Hono<Env> {
  const app = new Hono<Env>();
  const maxBody = deps.maxBodyBytes ?? 1_000_000;

  /**
   * Reads the exact body bytes (bounded) and verifies the signature over them. The bound holds while reading: a
   * chunked body without Content-Length is cut off as soon as it passes the limit, so no unauthenticated sender can
   * make the runner buffer more than `maxBody` bytes.
   */
  const signed = async (c: Context<Env>, next: Next) => {
    const tooLarge = () => problemResponse(problem(413, "Payload too large", `body exceeds ${maxBody} bytes`));
    // Unsigned or stale: refused before a body byte is read.
    const headers = checkSignatureHeaders(c.req.raw.headers);
    if (!headers.ok) {
      deps.log.warn("refused unsigned request", { path: new URL(c.req.url).pathname, reason: headers.reason });
      return problemResponse(problem(401, "Unauthorized", headers.reason));
    }
    const declared = Number(c.req.header("content-length") ?? "0");
    if (declared > maxBody) return tooLarge();
    const bytes = c.req.method === "GET" ? new Uint8Array(0) : await readBounded(c.req.raw, maxBody);
    if (!bytes) return tooLarge();
    const url = new URL(c.req.url);
    const v = await verifyRequest(
      deps.secret,
      { method: c.req.method, path: url.pathname + url.search, body: bytes, headers: c.req.raw.headers },
      { seen: deps.seen },
    );
    if (!v.ok) {
      deps.log.warn("refused unsigned request", { path: url.pathname, reason: v.reason });
      return problemResponse(problem(401, "Unauthorized", v.reason));
    }
    c.set("body", new TextDecoder().decode(bytes));
    await next();
  };

  app.get("/healthz", (c) => c.json({ ok: true, version: deps.version }));

  app.get("/readyz", (c) => {
    const r = deps.engine.readiness();
    const ready = r.ready && deps.manager.acceptingJobs;
    return c.json(
      { ...r, ready, acceptingJobs: deps.manager.acceptingJobs, queueDepth: deps.manager.depth, version: deps.version },
      ready ? 200 : 503,
    );
  });

  app.use("/v1/*", signed);

  app.post("/v1/jobs", (c) => {
    let json: unknown;
    try {
      json = JSON.parse(c.get("body"));
    } catch {
      return problemResponse(problem(400, "Malformed JSON", "the body is not valid JSON"));
    }
    const parsed = RunnerJobSchema.safeParse(json);
    if (!parsed.success) return problemResponse(fromZodError(parsed.error));
    const r = deps.manager.submit(parsed.data);
    switch (r.kind) {
      case "accepted":
        deps.log.info("job accepted", {
          jobId: r.record.jobId,
          attempt: r.record.attempt,
          queuePosition: r.queuePosition,
        });
        return c.json({ ...r.record, queuePosition: r.queuePosition }, 202);
      case "duplicate":
        return c.json(r.record, 200);
      case "full":
        return problemResponse(problem(429, "Queue full", "the runner's queue is full; try another runner or later"), {
          "retry-after": String(r.retryAfterSeconds),
        });
      case "draining":
        return problemResponse(problem(503, "Shutting down", "the runner is shutting down"), { "retry-after": "5" });
    }
  });

  app.get("/v1/jobs/:id", (c) => {
    const r = deps.manager.get(c.req.param("id"));
    return r ? c.json(r) : problemResponse(problem(404, "Not found", "no such job on this runner"));
  });

  // Operations on a job name its attempt; one for an attempt this runner does not hold is refused (runnerApi.ts).
  const unknownAttempt = (id: string, attempt: string) =>
    problemResponse({
      ...problem(404, "Unknown attempt", `this runner does not hold attempt ${attempt} of job ${id}`),
      type: UNKNOWN_ATTEMPT_TYPE,
    });
  const attemptOf = (raw: string) => (/^[1-9]\d{0,2}$/.test(raw) ? Number(raw) : null);

  app.get("/v1/jobs/:id/attempts/:attempt", (c) => {
    const { id, attempt } = c.req.param();
    const n = attemptOf(attempt);
    const r = n === null ? undefined : deps.manager.attempt(id, n);
    return r ? c.json(r) : unknownAttempt(id, attempt);
  });

  app.post("/v1/jobs/:id/attempts/:attempt/cancel", (c) => {
    const { id, attempt } = c.req.param();
    const n = attemptOf(attempt);
    const r = n === null ? undefined : deps.manager.cancelAttempt(id, n);
    if (!r) {
      deps.log.warn("refused a cancel for an attempt not held", {
        jobId: id,
        attempt,
        held: deps.manager.get(id)?.attempt,
      });
      return unknownAttempt(id, attempt);
    }
    return c.json(r, 202);
  });

  app.notFound(() => problemResponse(problem(404, "Not found")));
  app.onError((err) => {
    deps.log.error("unhandled error", { error: String(err) });
    return problemResponse(problem(500, "Internal error"));
  });
  return app;
}
