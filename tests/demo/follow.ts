/**
 * Following a job to its end through GET /v1/images/:id/events (SSE): each message is the job's full public
 * representation. A stream that ends early (the worker restarted, a proxy cut it) is opened again; the last view is
 * always read back with GET so the caller gets the settled state.
 */
import type { Api, JobView } from "./api";
import { sseMessages } from "./sse";

const FINISHED = new Set(["succeeded", "failed", "cancelled"]);

export function isFinished(view: Pick<JobView, "status">): boolean {
  return FINISHED.has(view.status);
}

export interface FollowOptions {
  onView?: (view: JobView) => void;
  timeoutMs?: number;
}

export async function followJob(api: Api, id: string, o: FollowOptions = {}): Promise<JobView> {
  const deadline = Date.now() + (o.timeoutMs ?? 600_000);
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
        { accept: "text/event-stream" },
        stream.signal,
      );
      if (res.status !== 200 || !res.body) {
        await res.body?.cancel();
        throw new Error(`GET /v1/images/${id}/events: HTTP ${res.status}`);
      }
      for await (const msg of sseMessages(res.body)) {
        if (msg.event === "job") o.onView?.(JSON.parse(msg.data) as JobView);
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
