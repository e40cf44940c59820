/**
 * Images uploaded to be upscaled. Checked before anything decodes them (format by signature, byte size, pixel count,
 * and that the file is whole: imageStructure.ts),
 * stored content-addressed per account (`uploads/<account>/<sha256>`: one account cannot reference another's upload
 * by guessing its hash), and referenced from a request by that hash, which also enters the phase-1 cache key.
 */
import { sha256Hex } from "@accdiff/shared";
import { FORMAT_CONTENT_TYPES } from "../domain/job";
import { readImageHeader } from "./imageHeader";
import { structuralProblem } from "./imageStructure";

export interface StoredUpload {
  sha256: string;
  width: number;
  height: number;
  format: "png" | "webp" | "jpeg";
  contentType: string;
  bytes: number;
  r2Key: string;
}

export type UploadCheck = { ok: true; upload: StoredUpload } | { ok: false; status: 413 | 415 | 422; detail: string };

/** Maximum side the request schema accepts for an input image. */
export const MAX_UPLOAD_SIDE = 16384;

export function uploadKey(accountId: string, sha256: string): string {
  return `uploads/${accountId}/${sha256}`;
}

/** Checks an upload (format by signature, bytes, sides, pixels) and hashes it, storing nothing. */
export async function inspectUpload(
  accountId: string,
  bytes: Uint8Array,
  limits: { maxBytes: number; maxPixels: number },
): Promise<UploadCheck> {
  if (bytes.byteLength > limits.maxBytes) {
    return { ok: false, status: 413, detail: `the image exceeds ${limits.maxBytes} bytes` };
  }
  const header = readImageHeader(bytes);
  if (!header) return { ok: false, status: 415, detail: "the image must be a PNG, JPEG or WebP" };
  if (header.width > MAX_UPLOAD_SIDE || header.height > MAX_UPLOAD_SIDE) {
    return { ok: false, status: 422, detail: `the image's sides must be at most ${MAX_UPLOAD_SIDE} pixels` };
  }
  if (header.width * header.height > limits.maxPixels) {
    return { ok: false, status: 422, detail: `the image has more than ${limits.maxPixels} pixels` };
  }
  // Whole before it is stored or priced: a truncated file would otherwise fail only on the runner.
  const broken = await structuralProblem(bytes, header.format);
  if (broken) return { ok: false, status: 422, detail: `the image is incomplete or damaged: ${broken}` };
  const sha256 = await sha256Hex(bytes);
  return {
    ok: true,
    upload: {
      sha256,
      width: header.width,
      height: header.height,
      format: header.format,
      contentType: FORMAT_CONTENT_TYPES[header.format],
      bytes: bytes.byteLength,
      r2Key: uploadKey(accountId, sha256),
    },
  };
}

/** Stores an inspected upload (content-addressed: storing it twice is harmless). */
export async function putUpload(bucket: R2Bucket, upload: StoredUpload, bytes: Uint8Array): Promise<void> {
  await bucket.put(upload.r2Key, bytes, {
    httpMetadata: { contentType: upload.contentType },
    customMetadata: { sha256: upload.sha256, width: String(upload.width), height: String(upload.height) },
    sha256: upload.sha256,
  });
}

/** The stored upload an `image` reference names, if this account uploaded it. */
export async function findUpload(bucket: R2Bucket, accountId: string, sha256: string) {
  return bucket.head(uploadKey(accountId, sha256));
}

/** Decodes base64 (optionally a data: URL), refusing before decoding when the result would exceed `maxBytes`. */
export function decodeBase64Image(text: string, maxBytes: number): Uint8Array | "too-large" | "invalid" {
  const comma = text.startsWith("data:") ? text.indexOf(",") : -1;
  const b64 = (comma >= 0 ? text.slice(comma + 1) : text).replace(/\s+/g, "");
  if (Math.floor((b64.length * 3) / 4) > maxBytes + 3) return "too-large";
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(b64)) return "invalid";
  try {
    const bin = atob(b64.replace(/-/g, "+").replace(/_/g, "/"));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  } catch {
    return "invalid";
  }
}
