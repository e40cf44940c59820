/**
 * POST /v1/uploads — stores an image to upscale and answers the reference to put in a request's `image` field
 * ({sha256, width, height}). The body is the image itself (image/png, image/jpeg, image/webp) or JSON
 * `{"imageBase64": "..."}`. Checked before decoding: bytes, format signature, sides, pixels.
 */
import { Hono } from "hono";
import { configOf } from "../env";
import { BodyTooLarge, readBody } from "../http/body";
import { badRequest, problemOf, tooLarge } from "../http/problems";
import { requireKey } from "../middleware/auth";
import type { AppEnv } from "../middleware/context";
import { decodeBase64Image, inspectUpload, putUpload } from "../uploads/store";

export const uploadRoutes = new Hono<AppEnv>();

uploadRoutes.use("*", requireKey);

uploadRoutes.post("/", async (c) => {
  const cfg = configOf(c.env);
  const type = (c.req.header("content-type") ?? "").split(";")[0].trim().toLowerCase();
  let bytes: Uint8Array;
  try {
    const raw = await readBody(
      c.req.raw,
      type === "application/json" ? Math.ceil((cfg.maxUploadBytes * 4) / 3) + 1024 : cfg.maxUploadBytes,
    );
    if (type === "application/json") {
      let value: unknown;
      try {
        value = JSON.parse(new TextDecoder().decode(raw));
      } catch {
        return badRequest("the body is not valid JSON");
      }
      const b64 = (value as { imageBase64?: unknown } | null)?.imageBase64;
      if (typeof b64 !== "string") return badRequest('expected {"imageBase64": "..."}');
      const decoded = decodeBase64Image(b64, cfg.maxUploadBytes);
      if (decoded === "too-large") return tooLarge(cfg.maxUploadBytes);
      if (decoded === "invalid") return badRequest("imageBase64 is not valid base64");
      bytes = decoded;
    } else {
      bytes = raw;
    }
  } catch (e) {
    if (e instanceof BodyTooLarge) return tooLarge(e.limit);
    throw e;
  }
  const r = await inspectUpload(c.var.principal.accountId, bytes, {
    maxBytes: cfg.maxUploadBytes,
    maxPixels: cfg.maxUploadPixels,
  });
  if (!r.ok) {
    const title =
      r.status === 413 ? "Payload too large" : r.status === 415 ? "Unsupported media type" : "Validation failed";
    return problemOf(r.status, title, r.detail);
  }
  await putUpload(c.env.IMAGES, r.upload, bytes);
  const { sha256, width, height, contentType } = r.upload;
  return c.json({ sha256, width, height, contentType, bytes: r.upload.bytes }, 201);
});
