/**
 * Serves an immutable R2 blob: strong ETag (its SHA-256), `immutable` caching, conditional GET (304) without reading
 * R2, and single byte ranges (206 / 416).
 */
import { problemOf } from "./problems";
import { parseRange } from "./range";

export interface BlobInfo {
  r2Key: string;
  contentType: string;
  bytes: number;
  sha256: string;
  filename: string;
}

function etagMatches(header: string | null, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === "*") return true;
  return header.split(",").some((t) => t.trim().replace(/^W\//, "") === etag);
}

export async function serveBlob(bucket: R2Bucket, req: Request, blob: BlobInfo): Promise<Response> {
  const etag = `"${blob.sha256}"`;
  const headers = new Headers({
    etag,
    "cache-control": "private, max-age=31536000, immutable",
    "accept-ranges": "bytes",
    "content-type": blob.contentType,
    "content-disposition": `inline; filename="${blob.filename}"`,
    "x-content-type-options": "nosniff",
  });
  if (etagMatches(req.headers.get("if-none-match"), etag)) return new Response(null, { status: 304, headers });
  // If-Range with another validator: the client's partial copy is stale, send everything.
  const ifRange = req.headers.get("if-range");
  const range =
    ifRange && ifRange.trim() !== etag ? { kind: "none" as const } : parseRange(req.headers.get("range"), blob.bytes);
  if (range.kind === "unsatisfiable") {
    headers.set("content-range", `bytes */${blob.bytes}`);
    const p = await problemOf(416, "Range not satisfiable", `the blob has ${blob.bytes} bytes`).text();
    headers.set("content-type", "application/problem+json");
    return new Response(p, { status: 416, headers });
  }
  const obj = await bucket.get(
    blob.r2Key,
    range.kind === "range" ? { range: { offset: range.offset, length: range.length } } : {},
  );
  if (!obj) return problemOf(404, "Not found", "the blob is no longer stored");
  if (range.kind === "range") {
    headers.set("content-range", `bytes ${range.offset}-${range.offset + range.length - 1}/${blob.bytes}`);
    headers.set("content-length", String(range.length));
    return new Response(obj.body, { status: 206, headers });
  }
  headers.set("content-length", String(blob.bytes));
  return new Response(obj.body, { status: 200, headers });
}
