/**
 * GET /v1/images/:id/events as a phone uses it: `retry:`, the whole job only when its picture changes, slim
 * `progress` otherwise, `end` and a closed stream; the signed `links.stream` needs no header; `Last-Event-ID`
 * resumes after it, and a reconnect after `end` gets 204 (an EventSource then stops). Every event is checked
 * against the public document's StreamEvent schema.
 */
import { describe, expect, it } from "vitest";
import { type SseMessage, SseParser } from "../../tests/demo/sse";
import { conformEvents } from "./contract";
import {
  account,
  api,
  body2x,
  expectJob,
  heldJob,
  postEvent,
  seedOf,
  uniquePrompt,
  waitForStatus,
} from "./jobsHelpers";

const FUNDS = 1_000_000;

/** Reads one stream message by message (the worker keeps it open while the job runs). */
class EventReader {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly parser = new SseParser();
  private readonly decoder = new TextDecoder();
  private readonly queue: SseMessage[] = [];
  text = "";

  constructor(
    readonly url: string,
    res: Response,
  ) {
    if (!res.body) throw new Error("no body");
    this.reader = res.body.getReader();
  }

  async next(): Promise<SseMessage | null> {
    while (this.queue.length === 0) {
      const { done, value } = await this.reader.read();
      if (done) return null;
      const chunk = this.decoder.decode(value, { stream: true });
      this.text += chunk;
      this.queue.push(...this.parser.push(chunk));
    }
    const m = this.queue.shift() as SseMessage;
    await conformEvents(this.url, [m]);
    return m;
  }

  async rest(): Promise<SseMessage[]> {
    const out: SseMessage[] = [];
    for (let m = await this.next(); m; m = await this.next()) out.push(m);
    return out;
  }

  cancel() {
    return this.reader.cancel().catch(() => undefined);
  }
}

async function open(url: string, o: { key?: string; lastEventId?: string } = {}) {
  const headers: Record<string, string> = {};
  if (o.lastEventId !== undefined) headers["last-event-id"] = o.lastEventId;
  const res = await api("GET", url, { key: o.key, headers });
  return { res, events: res.status === 200 ? new EventReader(url, res) : null };
}

const progress = (seq: number, percent: number) => ({
  type: "progress",
  attempt: 1,
  seq,
  phase: 1,
  step: seq,
  steps: 4,
  percent,
  etaMs: 1000,
});

describe("the job event stream", () => {
  it("sends the whole job only when its picture changes, slim progress otherwise, then end and closes", async () => {
    const acct = await account(FUNDS);
    const job = await expectJob(
      await api("POST", "/v1/images", { key: acct.key, body: body2x(uniquePrompt("stream"), seedOf()) }),
      202,
    );
    const { res, events } = await open(`/v1/images/${job.id}/events`, { key: acct.key });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const messages = await events!.rest();
    expect(events!.text.startsWith("retry: 3000\n")).toBe(true);
    expect(messages.at(-1)).toMatchObject({ event: "end", data: '{"status":"succeeded"}' });
    // Ids are the job's versions: increasing, and `end` carries the last one.
    const ids = messages.slice(0, -1).map((m) => Number(m.id));
    expect(ids.slice(1).every((id, i) => ids[i] < id)).toBe(true);
    expect(messages.at(-1)?.id).toBe(String(ids.at(-1)));
    const names = new Set(messages.map((m) => m.event));
    expect([...names].sort()).toEqual(["end", "job", "progress"]);
    // No full view repeats what the previous one showed apart from progress numbers.
    const jobs = messages.filter((m) => m.event === "job").map((m) => JSON.parse(m.data));
    const picture = (v: (typeof jobs)[number]) =>
      JSON.stringify([v.status, v.files.map((f: { name: string }) => f.name), v.progress.phasesDone, v.billing]);
    for (let i = 1; i < jobs.length; i++) expect(picture(jobs[i])).not.toBe(picture(jobs[i - 1]));
    expect(jobs.at(-1).status).toBe("succeeded");
    // Slim events are small: the 2x render's whole stream is mostly progress.
    const slim = messages.filter((m) => m.event === "progress");
    expect(Math.max(...slim.map((m) => m.data.length))).toBeLessThan(200);
  });

  it("follows by the signed links.stream without any header; a tampered or expired link is refused", async () => {
    const acct = await account(FUNDS);
    const job = await expectJob(
      await api("POST", "/v1/images", { key: acct.key, body: body2x(uniquePrompt("signed"), seedOf()) }),
      202,
    );
    const url = new URL(job.links.stream);
    expect(url.pathname).toBe(`/v1/images/${job.id}/events`);
    const { res, events } = await open(job.links.stream);
    expect(res.status).toBe(200);
    expect((await events!.rest()).at(-1)?.event).toBe("end");
    const tampered = new URL(url);
    tampered.searchParams.set("sig", "0".repeat(64));
    expect((await api("GET", tampered.href)).status).toBe(401);
    const expired = new URL(url);
    expired.searchParams.set("exp", "1");
    expect((await api("GET", expired.href)).status).toBe(401);
    // Another job's signature does not open this one.
    const other = new URL(url);
    other.pathname = `/v1/images/${"0".repeat(64)}/events`;
    expect((await api("GET", other.href)).status).toBe(401);
  });

  it("resumes after Last-Event-ID with the whole job, and answers 204 to a reconnect after end", async () => {
    const { acct, job } = await heldJob("resume");
    const first = await open(`/v1/images/${job.id}/events`, { key: acct.key });
    const initial = await first.events!.next();
    expect(initial?.event).toBe("job");
    await first.events!.cancel();

    expect((await postEvent(job.id, progress(1, 40))).status).toBe(200);
    const second = await open(`/v1/images/${job.id}/events`, { key: acct.key, lastEventId: initial!.id! });
    const resumed = await second.events!.next();
    expect(resumed?.event).toBe("job");
    expect(Number(resumed?.id)).toBeGreaterThan(Number(initial?.id));
    expect(JSON.parse(resumed!.data).progress.percent).toBe(40);

    expect((await postEvent(job.id, progress(2, 60))).status).toBe(200);
    const slim = await second.events!.next();
    expect(slim?.event).toBe("progress");
    expect(JSON.parse(slim!.data)).toEqual({
      status: "running",
      percent: 60,
      phase: 1,
      step: 2,
      steps: 4,
      etaMs: 1000,
      queuePosition: null,
    });

    await api("DELETE", `/v1/images/${job.id}`, { key: acct.key });
    const rest = await second.events!.rest();
    expect(rest.map((m) => m.event).at(-1)).toBe("end");
    const end = rest.at(-1)!;
    expect(JSON.parse(end.data)).toEqual({ status: "cancelled" });
    await waitForStatus(acct.key, job.id, ["cancelled"]);

    // A client that does not close on `end` reconnects with its id: 204 stops it, by key or by signed link.
    expect((await open(`/v1/images/${job.id}/events`, { key: acct.key, lastEventId: end.id! })).res.status).toBe(204);
    expect((await open(job.links.stream, { lastEventId: end.id! })).res.status).toBe(204);
    // One that missed the end gets it.
    const late = await open(`/v1/images/${job.id}/events`, { key: acct.key, lastEventId: String(Number(end.id) - 1) });
    expect((await late.events!.rest()).map((m) => m.event)).toEqual(["job", "end"]);
  });
});
