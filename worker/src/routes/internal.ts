/**
 * Traffic from runners and from Replicate, mounted at /internal. Nothing here takes an API key: every request is
 * authenticated by what it carries — the runner HMAC (shared/signing: method, path, timestamp, nonce, body hash),
 * a signed link, or Replicate's webhook signature — and refused before any state is touched otherwise.
 *   POST /internal/jobs/:id/events                                  runner events (signed)
 *   PUT  /internal/jobs/:id/attempts/:attempt/artifacts/:kind/:name runner uploads (signed)
 *   GET  /internal/blobs/<r2 key>?exp=&sig=                         resume artifacts and input images for runners
 *   POST /internal/replicate/:id?attempt=N                          Replicate webhooks (signed)
 */
import { ARTIFACT_KINDS, fromZodError, problemResponse, RunnerEventSchema, verifyRequest } from "@accdiff/shared";
import { Hono } from "hono";
import type { Prediction } from "../dispatch/replicate";
import { verifyReplicateWebhook } from "../dispatch/replicateWebhook";
import { artifactR2Key } from "../dispatch/runnerJob";
import { BodyTooLarge, readBody } from "../http/body";
import { badRequest, notFound, problemOf, tooLarge, unauthorized } from "../http/problems";
import { serveBlob } from "../http/serveBlob";
import { verifySignedUrl } from "../http/signedUrl";
import { hashStream, LengthMismatch, PENDING_PREFIX, publish, streamToR2 } from "../http/streamToR2";
import { jobStub } from "../jobs/client";
import type { EventResult } from "../jobs/JobDO";
import type { AppEnv } from "../middleware/context";
import { runnerSignatureHeaders } from "../middleware/runnerSigned";

export const internalRoutes = new Hono<AppEnv>();

// Signature headers checked before any body is read (the body's hash is checked per route).
internalRoutes.use("/jobs/*", runnerSignatureHeaders);

const MAX_EVENT_BYTES = 64 * 1024;
const MAX_WEBHOOK_BYTES = 1024 * 1024;
const MAX_ARTIFACT_BYTES = 100 * 1024 * 1024;
const NAME = /^[A-Za-z0-9._-]{1,128}$/;

async function limited(req: Request, limit: number): Promise<Uint8Array | Response> {
  try {
    return await readBody(req, limit);
  } catch (e) {
    if (e instanceof BodyTooLarge) return tooLarge(e.limit);
    throw e;
  }
}

function pathOf(url: string): string {
  const u = new URL(url);
  return u.pathname + u.search;
}

/**
 * How each outcome of an event is answered. Runners retry 5xx, 408, 409, 425 and 429, and give up on other 4xx: a
 * superseded attempt is 410 Gone so that its runner stops at once.
 */
function eventAnswer(result: EventResult, status?: string): Response {
  const ok = (code: number) =>
    new Response(JSON.stringify({ result, status: status ?? null }), {
      status: code,
      headers: { "content-type": "application/json" },
    });
  switch (result) {
    case "applied":
    case "duplicate":
    case "ignored":
      return ok(200);
    case "buffered":
      return ok(202);
    case "stale":
      return problemOf(410, "Superseded attempt", "this attempt was re-dispatched; stop working on it");
    case "unknown-attempt":
      return problemOf(409, "Unknown attempt", "the worker never dispatched this attempt");
    case "overflow":
      return problemResponse(
        {
          type: "https://accdiff.dev/problems/sequence-gap",
          title: "Sequence gap",
          status: 503,
          detail: "earlier events are missing; retry",
        },
        { "retry-after": "1" },
      );
    case "replayed":
      return unauthorized("replayed request");
    case "not-found":
      return notFound("no such job");
  }
}

internalRoutes.post("/jobs/:id/events", async (c) => {
  const body = await limited(c.req.raw, MAX_EVENT_BYTES);
  if (body instanceof Response) return body;
  const check = await verifyRequest(c.env.RUNNER_SECRET, {
    method: "POST",
    path: pathOf(c.req.url),
    body,
    headers: c.req.raw.headers,
  });
  if (!check.ok) return unauthorized(check.reason);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(body));
  } catch {
    return badRequest("the body is not valid JSON");
  }
  const parsed = RunnerEventSchema.safeParse(value);
  if (!parsed.success) return problemResponse(fromZodError(parsed.error));
  if (parsed.data.jobId !== c.req.param("id")) return badRequest("the event's jobId does not match the URL");
  const stub = jobStub(c.env.JOBS, c.req.param("id"));
  if (!stub) return notFound("no such job");
  const r = await stub.runnerEvent(parsed.data, check.nonce);
  return eventAnswer(r.result, r.status);
});

/**
 * Artifacts (up to 100 MiB) are streamed, never buffered: Content-Length is required and enforced, the body goes to a
 * pending R2 key while hashed, the signature is then checked over that hash (the runner signs the SHA-256 of the
 * exact bytes), and only a verified body is published under the artifact's key. A body that will be refused anyway
 * (no such job, superseded attempt) is hashed but not stored, so the answer still waits for the signature check.
 */
internalRoutes.put("/jobs/:id/attempts/:attempt/artifacts/:kind/:name", async (c) => {
  const arrived = Date.now();
  const { id, kind, name } = c.req.param();
  const attempt = Number(c.req.param("attempt"));
  if (!(ARTIFACT_KINDS as readonly string[]).includes(kind) || !NAME.test(name) || !Number.isInteger(attempt)) {
    return badRequest("unknown artifact kind, bad name or attempt");
  }
  const declared = c.req.header("content-length");
  if (declared === undefined) return problemOf(411, "Length required", "an upload must announce its Content-Length");
  if (!/^\d{1,16}$/.test(declared)) return badRequest("malformed Content-Length");
  const length = Number(declared);
  if (length > MAX_ARTIFACT_BYTES) return tooLarge(MAX_ARTIFACT_BYTES);
  const stub = jobStub(c.env.JOBS, id);
  const open = stub ? await stub.uploadOpen(attempt) : "not-found";
  const key = `${kind}/${name}`;
  const r2Key = artifactR2Key(id, attempt, key);
  const pendingKey = open === "ok" ? `${PENDING_PREFIX}${r2Key}.${crypto.randomUUID()}` : null;
  const contentType = c.req.header("content-type") ?? "application/octet-stream";
  let sha256: string;
  try {
    sha256 = pendingKey
      ? await streamToR2(c.env.IMAGES, pendingKey, c.req.raw.body, length, contentType)
      : await hashStream(c.req.raw.body, length);
  } catch (e) {
    if (e instanceof LengthMismatch) return badRequest(e.message);
    throw e;
  }
  const discard = () => (pendingKey ? c.env.IMAGES.delete(pendingKey) : Promise.resolve());
  // The signature's time window is judged at arrival: a large body may take a while to stream.
  const check = await verifyRequest(
    c.env.RUNNER_SECRET,
    { method: "PUT", path: pathOf(c.req.url), bodySha256: sha256, headers: c.req.raw.headers },
    { now: arrived },
  );
  if (!check.ok) {
    await discard();
    return unauthorized(check.reason);
  }
  const permission = stub ? await stub.authorizeUpload(attempt, check.nonce) : "not-found";
  if (permission !== "ok" || !pendingKey) await discard();
  if (permission === "not-found") return notFound("no such job");
  if (permission === "replayed") return unauthorized("replayed request");
  if (permission === "stale")
    return problemOf(410, "Superseded attempt", "this attempt was re-dispatched; stop working on it");
  if (permission === "finished") return problemOf(410, "Job finished", "the job has ended; uploads are closed");
  // Opened between the two checks (a newer attempt just began): the body was not kept; the runner retries a 409.
  if (!pendingKey) return problemOf(409, "Retry", "the attempt was not open when the upload began; send it again");
  if (!(await publish(c.env.IMAGES, pendingKey, r2Key, sha256, contentType))) {
    return problemOf(503, "Upload lost", "the verified upload could not be published; send it again");
  }
  return c.json({ key, bytes: length, sha256 }, 201);
});

internalRoutes.get("/blobs/*", async (c) => {
  const url = new URL(c.req.url);
  const check = await verifySignedUrl(c.env.URL_SIGNING_SECRET, url);
  if (!check.ok) return unauthorized(`signed link refused: ${check.reason}`);
  const r2Key = decodeURIComponent(url.pathname.slice("/internal/blobs/".length));
  const head = await c.env.IMAGES.head(r2Key);
  if (!head) return notFound("no such blob");
  return serveBlob(c.env.IMAGES, c.req.raw, {
    r2Key,
    contentType: head.httpMetadata?.contentType ?? "application/octet-stream",
    bytes: head.size,
    sha256: head.customMetadata?.sha256 ?? head.etag,
    filename: r2Key.split("/").pop() ?? "blob",
  });
});

internalRoutes.post("/replicate/:id", async (c) => {
  const body = await limited(c.req.raw, MAX_WEBHOOK_BYTES);
  if (body instanceof Response) return body;
  const text = new TextDecoder().decode(body);
  const check = await verifyReplicateWebhook(c.env.REPLICATE_WEBHOOK_SECRET, c.req.raw.headers, text);
  if (!check.ok) return unauthorized(check.reason);
  let prediction: Prediction;
  try {
    prediction = JSON.parse(text) as Prediction;
  } catch {
    return badRequest("the body is not valid JSON");
  }
  if (!prediction || typeof prediction.id !== "string" || typeof prediction.status !== "string") {
    return badRequest("not a prediction");
  }
  const attempt = Number(c.req.query("attempt") ?? "1");
  const stub = jobStub(c.env.JOBS, c.req.param("id"));
  if (!stub) return notFound("no such job");
  const r = await stub.replicateUpdate(attempt, check.id, prediction);
  // Replicate retries non-2xx deliveries: anything we chose to ignore is still acknowledged.
  if (r.result === "not-found") return notFound("no such job");
  return c.json({ result: r.result, status: r.status ?? null });
});
