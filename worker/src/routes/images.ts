/**
 * Public image jobs, mounted at /v1/images:
 *   GET    /                 the account's jobs, newest first (limit, cursor)
 *   POST   /                 create (JSON or multipart; Idempotency-Key; Prefer: wait=N) -> 202 job | 200 when done
 *   GET    /:id              status, progress, preview, results
 *   GET    /:id/events       Server-Sent Events (jobs/eventStream.ts), by key or the job's signed links.stream
 *   DELETE /:id              cancel (pays for the phases completed)
 *   GET    /:id/files/:name  artifact downloads, by the owner's key or a signed link
 * A job belongs to the account whose key created it: any other key gets 404, exactly as for a job that never existed.
 */
import { type Context, Hono } from "hono";
import { isFinished, type JobState } from "../domain/job";
import { configOf, type Env } from "../env";
import { badRequest, notFound, problemOf, unauthorized } from "../http/problems";
import { publicBase, requirePublicBase } from "../http/publicBase";
import { serveBlob } from "../http/serveBlob";
import { verifySignedUrl } from "../http/signedUrl";
import { jobStub } from "../jobs/client";
import { alreadyEnded, jobEventStream, lastEventId } from "../jobs/eventStream";
import { decodeCursor, LIST_DEFAULT, LIST_MAX, listJobs } from "../jobs/list";
import { preferredWait, waitForEnd } from "../jobs/preferWait";
import { submitJob } from "../jobs/submit";
import { findFile, jobView } from "../jobs/view";
import { requireKey } from "../middleware/auth";
import type { AppEnv } from "../middleware/context";
import { readCreateBody } from "../uploads/intake";

export const imageRoutes = new Hono<AppEnv>();

/** How a job is shown: links on the configured public base (never the Host header), signed for the configured time. */
function viewOptions(env: Env, url: string) {
  return { base: publicBase(env, url), urlSecret: env.URL_SIGNING_SECRET, ttlSeconds: configOf(env).signedUrlSeconds };
}

async function ownedJob(env: AppEnv["Bindings"], id: string, accountId: string | null): Promise<JobState | null> {
  const stub = jobStub(env.JOBS, id);
  if (!stub) return null;
  const s = await stub.get();
  if (!s || (accountId !== null && s.accountId !== accountId)) return null;
  return s;
}

imageRoutes.use("*", requirePublicBase);

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

imageRoutes.get("/", async (c) => {
  const limit = c.req.query("limit");
  const cursor = c.req.query("cursor");
  if (limit !== undefined && !(/^\d{1,3}$/.test(limit) && Number(limit) >= 1 && Number(limit) <= LIST_MAX)) {
    return badRequest(`limit must be an integer in [1, ${LIST_MAX}]`);
  }
  const before = cursor ? decodeCursor(cursor) : null;
  if (cursor && !before) return badRequest("cursor is not one this API handed out");
  const page = await listJobs(c.env, c.var.principal.accountId, before, limit ? Number(limit) : LIST_DEFAULT);
  const options = viewOptions(c.env, c.req.url);
  const data = await Promise.all(page.jobs.map((s) => jobView(s, options)));
  return c.json({ object: "list", data, nextCursor: page.nextCursor });
});

imageRoutes.post("/", async (c) => {
  const cfg = configOf(c.env);
  const principal = c.var.principal;
  const intake = await readCreateBody(c.req.raw, principal.accountId, cfg);
  if (!intake.ok) return intake.response;
  const res = await submitJob(c.env, principal, {
    input: intake.input,
    upload: intake.upload,
    idempotencyKey: c.req.header("idempotency-key") ?? null,
    clientBase: publicBase(c.env, c.req.url),
    runnerBase: publicBase(c.env, c.req.url),
  });
  const wait = preferredWait(c.req.header("prefer"));
  const id = res.headers.get("location")?.split("/").pop();
  if (wait === null || res.status !== 202 || !id) return res;
  // Prefer: wait=N — answer when the job ends (200), or after N seconds with its state then (202).
  const s = await waitForEnd(jobStub(c.env.JOBS, id)!, wait);
  if (!s) return res;
  const headers = new Headers(res.headers);
  headers.set("preference-applied", `wait=${wait}`);
  const view = await jobView(s, viewOptions(c.env, c.req.url));
  return new Response(JSON.stringify(view), { status: isFinished(s) ? 200 : 202, headers });
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
