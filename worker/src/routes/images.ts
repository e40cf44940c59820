/**
 * Public image jobs, mounted at /v1/images:
 *   POST   /                 create (JSON or multipart; Idempotency-Key) -> 202 job | 200 when fully cached
 *   GET    /:id              status, progress, preview, results
 *   GET    /:id/events       Server-Sent Events (jobs/eventStream.ts), by key or the job's signed links.stream
 *   DELETE /:id              cancel (pays for the phases completed)
 *   GET    /:id/files/:name  artifact downloads, by the owner's key or a signed link
 * A job belongs to the account whose key created it: any other key gets 404, exactly as for a job that never existed.
 */
import { type Context, Hono } from "hono";
import { configOf, type Env, publicBase } from "../env";
import { notFound, problemOf, unauthorized } from "../http/problems";
import { serveBlob } from "../http/serveBlob";
import { verifySignedUrl } from "../http/signedUrl";
import { jobStub } from "../jobs/client";
import { alreadyEnded, jobEventStream, lastEventId } from "../jobs/eventStream";
import { submitJob } from "../jobs/submit";
import type { JobState } from "../jobs/types";
import { findFile, jobView } from "../jobs/view";
import { requireKey } from "../middleware/auth";
import { readCreateBody } from "../uploads/intake";
import type { AppEnv } from "./context";

export const imageRoutes = new Hono<AppEnv>();

function clientBase(url: string): string {
  return new URL(url).origin;
}

/** How a job is shown to the client that asked at `url`: file links signed for its origin, for the configured time. */
function viewOptions(env: Env, url: string) {
  return { base: clientBase(url), urlSecret: env.URL_SIGNING_SECRET, ttlSeconds: configOf(env).signedUrlSeconds };
}

async function ownedJob(env: AppEnv["Bindings"], id: string, accountId: string | null): Promise<JobState | null> {
  const stub = jobStub(env.JOBS, id);
  if (!stub) return null;
  const s = await stub.get();
  if (!s || (accountId !== null && s.accountId !== accountId)) return null;
  return s;
}

imageRoutes.get("/:id/files/:name", async (c, next) => {
  // A signed link stands in for the key (image views cannot send headers); without one, the owner's key is required.
  const url = new URL(c.req.url);
  if (!url.searchParams.has("sig")) return next();
  const check = await verifySignedUrl(c.env.URL_SIGNING_SECRET, url);
  if (!check.ok) return unauthorized(`signed link refused: ${check.reason}`);
  const s = await ownedJob(c.env, c.req.param("id"), null);
  const file = s && findFile(s, c.req.param("name"));
  if (!s || !file) return notFound("no such file");
  return serveBlob(c.env.IMAGES, c.req.raw, { ...file, filename: c.req.param("name") });
});

imageRoutes.get("/:id/events", async (c, next) => {
  // The job's signed stream link (links.stream) stands in for the key: EventSource cannot send headers.
  const url = new URL(c.req.url);
  if (!url.searchParams.has("sig")) return next();
  const check = await verifySignedUrl(c.env.URL_SIGNING_SECRET, url);
  if (!check.ok) return unauthorized(`signed link refused: ${check.reason}`);
  const s = await ownedJob(c.env, c.req.param("id"), null);
  if (!s) return notFound("no such job");
  return events(c, s);
});

function events(c: Context<AppEnv>, s: JobState): Response {
  const last = lastEventId(c.req.header("last-event-id"));
  if (alreadyEnded(s, last)) return c.body(null, 204);
  const options = viewOptions(c.env, c.req.url);
  return jobEventStream(jobStub(c.env.JOBS, s.id)!, {
    last,
    view: (cur) => jobView(cur, options),
    waitUntil: (p) => c.executionCtx.waitUntil(p),
  });
}

imageRoutes.use("*", requireKey);

imageRoutes.post("/", async (c) => {
  const cfg = configOf(c.env);
  const principal = c.var.principal;
  const intake = await readCreateBody(c.req.raw, principal.accountId, cfg);
  if (!intake.ok) return intake.response;
  return submitJob(c.env, principal, {
    input: intake.input,
    upload: intake.upload,
    idempotencyKey: c.req.header("idempotency-key") ?? null,
    clientBase: clientBase(c.req.url),
    runnerBase: publicBase(c.env, c.req.url),
  });
});

imageRoutes.get("/:id", async (c) => {
  const s = await ownedJob(c.env, c.req.param("id"), c.var.principal.accountId);
  if (!s) return notFound("no such job");
  return c.json(await jobView(s, viewOptions(c.env, c.req.url)));
});

imageRoutes.delete("/:id", async (c) => {
  const s = await ownedJob(c.env, c.req.param("id"), c.var.principal.accountId);
  if (!s) return notFound("no such job");
  if (s.status === "succeeded" || s.status === "failed") {
    return problemOf(409, "Job already finished", `the job ${s.status}; there is nothing to cancel`);
  }
  const after = (await jobStub(c.env.JOBS, s.id)!.cancel()) ?? s;
  return c.json(await jobView(after, viewOptions(c.env, c.req.url)));
});

imageRoutes.get("/:id/events", async (c) => {
  const s = await ownedJob(c.env, c.req.param("id"), c.var.principal.accountId);
  if (!s) return notFound("no such job");
  return events(c, s);
});

imageRoutes.get("/:id/files/:name", async (c) => {
  const s = await ownedJob(c.env, c.req.param("id"), c.var.principal.accountId);
  const file = s && findFile(s, c.req.param("name"));
  if (!s || !file) return notFound("no such file");
  return serveBlob(c.env.IMAGES, c.req.raw, { ...file, filename: c.req.param("name") });
});
