/**
 * Following a job to its end through GET /v1/images/:id/events (SSE): `job` messages carry the whole public
 * representation, `progress` ones a few fields that are applied to the last view, `end` closes. A stream that ends
 * early (the worker restarted, a proxy cut it) is opened again with Last-Event-ID; the last view is always read back
 * with GET so the caller gets the settled state.
 */
import type { Api, JobView } from "./api";
import { type SseMessage, sseMessages } from "./sse";

async function* none(): AsyncGenerator<SseMessage> {}

const FINISHED = new Set(["succeeded", "failed", "cancelled"]);

export function isFinished(view: Pick<JobView, "status">): boolean {
  return FINISHED.has(view.status);
}

export interface FollowOptions {
  onView?: (view: JobView) => void;
  timeoutMs?: number;
}

/** A view with a `progress` event's fields applied (the event carries no files or links). */
export function applyProgress(view: JobView, data: string): JobView {
  const p = JSON.parse(data) as {
    status: JobView["status"];
    percent: number;
    phase: number | null;
    step: number | null;
    steps: number | null;
    etaMs: number | null;
    queuePosition: number | null;
  };
  const progress = {
    ...view.progress,
    phase: p.phase,
    step: p.step,
    steps: p.steps,
    percent: p.percent,
    etaMs: p.etaMs,
  };
  return { ...view, status: p.status, queuePosition: p.queuePosition, progress };
}

export async function followJob(api: Api, id: string, o: FollowOptions = {}): Promise<JobView> {
  const deadline = Date.now() + (o.timeoutMs ?? 600_000);
  let last: JobView | null = null;
  let lastId: string | null = null;
  for (;;) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new Error(`job ${id} did not finish in time`);
    const stream = new AbortController();
    const timer = setTimeout(() => stream.abort(), remaining);
    let ended = false;
    try {
      const res = await api.call(
        "GET",
        `/v1/images/${id}/events`,
        undefined,
        { accept: "text/event-stream", ...(lastId !== null ? { "last-event-id": lastId } : {}) },
        stream.signal,
      );
      if (res.status === 204) ended = true;
      else if (res.status !== 200 || !res.body) {
        await res.body?.cancel();
        throw new Error(`GET /v1/images/${id}/events: HTTP ${res.status}`);
      }
      for await (const msg of res.body ? sseMessages(res.body) : none()) {
        await api.conformEvent(`/v1/images/${id}/events`, msg);
        lastId = msg.id ?? lastId;
        if (msg.event === "job") last = JSON.parse(msg.data) as JobView;
        if (msg.event === "progress" && last) last = applyProgress(last, msg.data);
        if (last && (msg.event === "job" || msg.event === "progress")) o.onView?.(last);
        if (msg.event === "end") {
          ended = true;
          break;
        }
      }
    } catch (e) {
      // A stream cut short is opened again below; only the deadline ends the wait.
      if (!stream.signal.aborted && !(e instanceof TypeError)) throw e;
    } finally {
      clearTimeout(timer);
    }
    const view = await api.job(id);
    if (isFinished(view)) {
      if (!ended) o.onView?.(view);
      return view;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
