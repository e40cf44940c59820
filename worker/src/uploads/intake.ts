/**
 * Reads the body of POST /v1/images into the request object the schema validates. Three shapes:
 * - `application/json`: the request itself; an optional top-level `imageBase64` (raw or data: URL) is taken out
 *   and replaced by the `image` reference (the upload is stored by the caller once the request is valid);
 * - `multipart/form-data`: a `request` part (JSON) and an optional `image` file part, nothing else (an unknown or
 *   repeated part is refused, naming it);
 * Limits apply before parsing (body bytes) and before any decoding (image bytes and pixels, from its header).
 */
import { BodyTooLarge, readBody } from "../http/body";
import { badRequest, problemOf, tooLarge, unsupportedMedia } from "../http/problems";
import { decodeBase64Image, inspectUpload, type StoredUpload } from "./store";

export interface IntakeLimits {
  maxJsonBytes: number;
  maxUploadBytes: number;
  maxUploadPixels: number;
}

/** The request object, and the image to store once the request has been validated (hostile input stores nothing). */
export type Intake =
  | { ok: true; input: unknown; upload?: { meta: StoredUpload; bytes: Uint8Array } }
  | { ok: false; response: Response };

function fail(response: Response): Intake {
  return { ok: false, response };
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

async function attachImage(
  accountId: string,
  input: Record<string, unknown>,
  bytes: Uint8Array,
  limits: IntakeLimits,
): Promise<Intake> {
  if (input.image !== undefined) return fail(badRequest("give the image either inline or as a reference, not both"));
  const r = await inspectUpload(accountId, bytes, {
    maxBytes: limits.maxUploadBytes,
    maxPixels: limits.maxUploadPixels,
  });
  if (!r.ok) {
    const title =
      r.status === 413 ? "Payload too large" : r.status === 415 ? "Unsupported media type" : "Validation failed";
    return fail(problemOf(r.status, title, r.detail, { errors: [{ path: "image", message: r.detail }] }));
  }
  const { sha256, width, height } = r.upload;
  return { ok: true, input: { ...input, image: { sha256, width, height } }, upload: { meta: r.upload, bytes } };
}

const PARTS = ["request", "image"];

/**
 * A multipart body has a `request` part and at most one `image` part, nothing else: an image under another name would
 * otherwise be ignored (and the job charged as text-to-image), a second one silently dropped.
 */
function checkParts(form: FormData): Response | null {
  const counts = new Map<string, number>();
  for (const name of form.keys()) counts.set(name, (counts.get(name) ?? 0) + 1);
  const errors: { path: string; message: string }[] = [];
  for (const [name, n] of counts) {
    if (!PARTS.includes(name)) errors.push({ path: name, message: "unknown part (send `request` and `image` only)" });
    else if (n > 1) errors.push({ path: name, message: `sent ${n} times; send it once` });
  }
  if (errors.length === 0) return null;
  const detail = errors.map((e) => `${e.path}: ${e.message}`).join("; ");
  return problemOf(422, "Validation failed", detail, { errors });
}

export async function readCreateBody(req: Request, accountId: string, limits: IntakeLimits): Promise<Intake> {
  const type = (req.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
  const inlineImageBytes = Math.ceil((limits.maxUploadBytes * 4) / 3) + 1024;
  if (type === "application/json") {
    let bytes: Uint8Array;
    try {
      bytes = await readBody(req, limits.maxJsonBytes + inlineImageBytes);
    } catch (e) {
      if (e instanceof BodyTooLarge) return fail(tooLarge(e.limit));
      throw e;
    }
    const parsed = parseJson(new TextDecoder().decode(bytes));
    if (!parsed.ok) return fail(badRequest("the body is not valid JSON"));
    const value = parsed.value;
    if (!value || typeof value !== "object" || Array.isArray(value))
      return fail(badRequest("the body must be a JSON object"));
    const { imageBase64, ...rest } = value as Record<string, unknown>;
    if (imageBase64 === undefined) {
      if (bytes.byteLength > limits.maxJsonBytes) return fail(tooLarge(limits.maxJsonBytes));
      return { ok: true, input: rest };
    }
    if (typeof imageBase64 !== "string") return fail(badRequest("imageBase64 must be a base64 string"));
    const image = decodeBase64Image(imageBase64, limits.maxUploadBytes);
    if (image === "too-large") return fail(tooLarge(limits.maxUploadBytes));
    if (image === "invalid") return fail(badRequest("imageBase64 is not valid base64"));
    return attachImage(accountId, rest, image, limits);
  }
  if (type === "multipart/form-data") {
    let bytes: Uint8Array;
    try {
      bytes = await readBody(req, limits.maxJsonBytes + limits.maxUploadBytes + 16 * 1024);
    } catch (e) {
      if (e instanceof BodyTooLarge) return fail(tooLarge(e.limit));
      throw e;
    }
    let form: FormData;
    try {
      form = await new Response(bytes, {
        headers: { "content-type": req.headers.get("content-type") ?? "" },
      }).formData();
    } catch {
      return fail(badRequest("the multipart body could not be parsed"));
    }
    const parts = checkParts(form);
    if (parts) return fail(parts);
    const part: unknown = form.get("request");
    if (part === null) return fail(badRequest("the multipart body needs a `request` part (JSON)"));
    const text = part instanceof Blob ? await part.text() : String(part);
    if (text.length > limits.maxJsonBytes) return fail(tooLarge(limits.maxJsonBytes));
    const parsed = parseJson(text);
    if (!parsed.ok) return fail(badRequest("the `request` part is not valid JSON"));
    const value = parsed.value;
    if (!value || typeof value !== "object" || Array.isArray(value))
      return fail(badRequest("the `request` part must be a JSON object"));
    const file: unknown = form.get("image");
    if (file === null) return { ok: true, input: value };
    if (!(file instanceof Blob)) return fail(badRequest("the `image` part must be a file"));
    return attachImage(accountId, value as Record<string, unknown>, new Uint8Array(await file.arrayBuffer()), limits);
  }
  return fail(unsupportedMedia("send application/json or multipart/form-data"));
}
