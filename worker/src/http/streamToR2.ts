/**
 * Large request bodies go to R2 as a stream, hashed on the way: an isolate has 128 MB, and runner artifacts may be
 * 100 MiB. The declared Content-Length is enforced byte for byte (FixedLengthStream also gives R2 the length it
 * needs for a streamed put). The caller learns the SHA-256 only once every byte is stored, so whatever needs the hash
 * to decide (a signature over the body) writes to a pending key first and publishes with `publish` afterwards.
 */
import { toHex } from "@accdiff/shared";

/** Where bodies wait until they are verified (give the bucket a lifecycle rule that expires this prefix in a day). */
export const PENDING_PREFIX = "pending/";

/** The body did not have the length its Content-Length announced. */
export class LengthMismatch extends Error {
  constructor(readonly declared: number) {
    super(`the body does not have the ${declared} bytes its Content-Length announced`);
  }
}

/**
 * A pass-through that hashes every chunk before passing it on (so the hash covers exactly the bytes that go on, with
 * backpressure) and fails unless exactly `length` bytes pass.
 */
function hashingTap(length: number) {
  const digest = new crypto.DigestStream("SHA-256");
  const hash = digest.getWriter();
  const state = { seen: 0 };
  const tap = new TransformStream<Uint8Array, Uint8Array>({
    async transform(chunk, out) {
      state.seen += chunk.byteLength;
      if (state.seen > length) throw new LengthMismatch(length);
      await hash.write(chunk);
      out.enqueue(chunk);
    },
    async flush() {
      if (state.seen !== length) throw new LengthMismatch(length);
      await hash.close();
    },
  });
  return { tap, state, sha256: async () => toHex(await digest.digest) };
}

function streamOf(body: ReadableStream<Uint8Array> | null): ReadableStream<Uint8Array> {
  return body ?? new ReadableStream({ start: (c) => c.close() });
}

/**
 * Streams `body` (exactly `length` bytes) to `key`; resolves with its hex SHA-256. On any failure nothing is left
 * under `key` and the error is rethrown (LengthMismatch when the byte count was wrong).
 */
export async function streamToR2(
  bucket: R2Bucket,
  key: string,
  body: ReadableStream<Uint8Array> | null,
  length: number,
  contentType: string,
): Promise<string> {
  const h = hashingTap(length);
  const fixed = new FixedLengthStream(length);
  const [piped, stored] = await Promise.allSettled([
    streamOf(body).pipeThrough(h.tap).pipeTo(fixed.writable),
    bucket.put(key, fixed.readable, { httpMetadata: { contentType } }),
  ]);
  if (piped.status === "rejected" || stored.status === "rejected") {
    await bucket.delete(key).catch(() => {});
    const err = piped.status === "rejected" ? piped.reason : (stored as PromiseRejectedResult).reason;
    if (err instanceof LengthMismatch || h.state.seen !== length) throw new LengthMismatch(length);
    throw err;
  }
  return h.sha256();
}

/** Hashes `body` (exactly `length` bytes) without keeping it: for a body that will be refused once authenticated. */
export async function hashStream(body: ReadableStream<Uint8Array> | null, length: number): Promise<string> {
  const h = hashingTap(length);
  await streamOf(body).pipeThrough(h.tap).pipeTo(new WritableStream());
  return h.sha256();
}

/**
 * Makes a pending object visible under its final key (streamed: R2 has no rename), with the verified hash in its
 * metadata; R2 checks the bytes against `sha256` once more. The pending object is removed either way.
 */
export async function publish(
  bucket: R2Bucket,
  pendingKey: string,
  key: string,
  sha256: string,
  contentType: string,
): Promise<boolean> {
  try {
    const obj = await bucket.get(pendingKey);
    if (!obj) return false;
    const fixed = new FixedLengthStream(obj.size);
    const [, stored] = await Promise.all([
      obj.body.pipeTo(fixed.writable),
      bucket.put(key, fixed.readable, { httpMetadata: { contentType }, customMetadata: { sha256 }, sha256 }),
    ]);
    return stored !== null;
  } finally {
    await bucket.delete(pendingKey).catch(() => {});
  }
}
