/**
 * GET /v1/images/:id/events as Server-Sent Events a phone can afford: the whole job (`job`) only when something a
 * client renders differently changed (status, its images, phases done, warnings, error, billing), a few-field
 * `progress` event for every other change, then `end`, and the stream closes. Every event's id is the job's version, so a client
 * that reconnects with `Last-Event-ID` resumes after what it has; one that reconnects after `end` gets 204, which
 * makes an EventSource stop instead of reconnecting forever. `retry:` tells clients how long to wait before that.
 */

import { isFinished, type JobState } from "../domain/job";
import type { JobApi } from "./client";
import type { ProgressEvent } from "./eventSchemas";

/** How long a client waits before reconnecting (ms), sent once at the start of every stream. */
export const SSE_RETRY_MS = 3000;
/** A comment is sent after this long without a change, so that proxies keep the connection. */
const KEEP_ALIVE_MS = 15_000;

export function progressEvent(s: JobState): ProgressEvent {
  return {
    status: s.status,
    percent: s.status === "succeeded" ? 100 : (s.progress?.percent ?? 0),
    phase: s.progress?.phase ?? null,
    step: s.progress?.step ?? null,
    steps: s.progress?.steps ?? null,
    etaMs: s.progress?.etaMs ?? null,
    queuePosition: s.status === "queued" ? (s.queuePosition ?? null) : null,
  };
}

/** The files a client shows (preview, phase images, the image); the rest ride along with the next whole job. */
const SHOWN = new Set(["lowres_image", "phase_image", "final_image"]);

/** What makes a client's picture of the job other than its progress numbers: a change here sends the whole job. */
function shape(s: JobState): string {
  const shown = s.artifacts.filter((a) => SHOWN.has(a.kind)).length;
  return JSON.stringify([s.status, shown, s.phasesDone, s.warnings.length, s.error, s.billing.state]);
}

/** The Last-Event-ID a reconnecting client sent (a version we gave it), or null. */
export function lastEventId(header: string | undefined): number | null {
  return header !== undefined && /^\d{1,15}$/.test(header.trim()) ? Number(header.trim()) : null;
}

/** True when a reconnecting client has seen the job's end already: answer 204 so that it stops. */
export function alreadyEnded(s: JobState, last: number | null): boolean {
  return last !== null && isFinished(s) && s.version <= last;
}

export interface StreamOptions {
  /** The version the client has (Last-Event-ID), or null for a new stream. */
  last: number | null;
  /** The job's full public representation (signed links). */
  view: (s: JobState) => Promise<unknown>;
  waitUntil: (p: Promise<unknown>) => void;
}

export function jobEventStream(stub: JobApi, o: StreamOptions): Response {
  const enc = new TextEncoder();
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  const send = (text: string) => writer.write(enc.encode(text));
  const event = (name: string, id: number, data: unknown) =>
    send(`id: ${id}\nevent: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
  const pump = async () => {
    let version = o.last ?? -1;
    // Resumed after some version: what the client missed is unknown, so the first change sends the whole job.
    let sentShape: string | null = null;
    try {
      await send(`retry: ${SSE_RETRY_MS}\n\n`);
      for (;;) {
        const cur = await stub.waitForChange(version, KEEP_ALIVE_MS);
        if (!cur) break;
        if (cur.version > version) {
          version = cur.version;
          const now = shape(cur);
          if (now !== sentShape) await event("job", cur.version, await o.view(cur));
          else await event("progress", cur.version, progressEvent(cur));
          sentShape = now;
        } else if (!isFinished(cur)) {
          await send(": keep-alive\n\n");
        }
        if (isFinished(cur)) {
          await event("end", cur.version, { status: cur.status });
          break;
        }
      }
      await writer.close();
    } catch {
      // The client went away (or the object restarted): end the stream; EventSource reconnects by itself.
      await writer.abort().catch(() => undefined);
    }
  };
  o.waitUntil(pump());
  return new Response(readable, {
    headers: { "content-type": "text/event-stream", "cache-control": "no-store", "x-accel-buffering": "no" },
  });
}
