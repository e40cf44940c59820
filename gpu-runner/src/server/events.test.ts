import type { RunnerEvent } from "@accdiff/shared";
import { describe, expect, it } from "vitest";
import { JobEvents } from "./events";
import type { SignedHttp } from "./http";
import { silentLogger } from "./log";

const job = { jobId: "job_events_1", attempt: 1, callbackUrl: "http://127.0.0.1:1/internal/jobs/job_events_1/events" };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(pred: () => boolean, timeoutMs = 5_000): Promise<void> {
  for (const t0 = Date.now(); !pred(); await sleep(5)) if (Date.now() - t0 > timeoutMs) throw new Error("timed out");
}

/** A worker behind a fetch: `status(event)` answers each try; `delivered` holds the events answered 2xx. */
function worker(status: (e: RunnerEvent) => number = () => 204) {
  const delivered: RunnerEvent[] = [];
  const tries: RunnerEvent[] = [];
  const fetch = (async (_url: string, init: RequestInit) => {
    const e = JSON.parse(init.body as string) as RunnerEvent;
    tries.push(e);
    const s = status(e);
    if (s < 300) delivered.push(e);
    return new Response(null, { status: s });
  }) as typeof globalThis.fetch;
  const http: SignedHttp = { secret: "s", fetch, retry: { attempts: 2, baseMs: 1, maxMs: 1 }, log: silentLogger };
  return { http, delivered, tries };
}

describe("JobEvents keep-alive", () => {
  it("repeats the keep-alive body whenever nothing else was sent for heartbeatMs, with the next seq", async () => {
    const w = worker();
    const ev = new JobEvents(job, w.http, { heartbeatMs: 40 });
    let position = 2;
    await ev.send({ type: "accepted", queuePosition: position });
    ev.keepAlive(() => ({ type: "accepted", queuePosition: position }));
    await until(() => w.delivered.length >= 3);
    position = 1;
    // The position is evaluated when the keep-alive goes out.
    await until(() => w.delivered.some((e) => e.type === "accepted" && e.queuePosition === 1));
    ev.stopKeepAlive();
    await ev.flush();
    const n = w.delivered.length;
    expect(w.delivered.map((e) => e.seq)).toEqual(w.delivered.map((_, i) => i));
    expect(w.delivered.every((e) => e.type === "accepted")).toBe(true);
    // Spaced by the heartbeat, not sent in a burst.
    const at = w.delivered.map((e) => Date.parse(e.at));
    for (let i = 1; i < at.length; i++) expect(at[i] - at[i - 1]).toBeGreaterThanOrEqual(35);
    await sleep(100);
    expect(w.delivered.length).toBe(n); // stopped
  });

  it("stays quiet while other events flow, and repeats the latest progress once they stop", async () => {
    const w = worker();
    const ev = new JobEvents(job, w.http, { heartbeatMs: 150, progressIntervalMs: 1 });
    ev.keepAlive(() => ev.lastProgress ?? { type: "accepted", queuePosition: 0 });
    for (let step = 1; step <= 10; step++) {
      ev.progress({ phase: 1, step, steps: 10, percent: step * 5 });
      await sleep(15);
    }
    const busy = w.delivered.length;
    expect(w.delivered.filter((e) => e.type === "accepted")).toEqual([]);
    // One long model call: the stream repeats step 10.
    await until(() => w.delivered.length > busy);
    ev.stopKeepAlive();
    await ev.flush();
    const repeats = w.delivered.slice(busy);
    expect(repeats.length).toBeGreaterThanOrEqual(1);
    for (const e of repeats) expect(e).toMatchObject({ type: "progress", phase: 1, step: 10, percent: 50 });
  });
});

describe("JobEvents delivery failure", () => {
  it("sends nothing after an event the worker refused, and reports it once", async () => {
    const w = worker((e) => (e.seq === 1 ? 410 : 204));
    const lost: RunnerEvent[] = [];
    const ev = new JobEvents(job, w.http, { heartbeatMs: 20, onUndeliverable: (e) => lost.push(e) });
    ev.keepAlive(() => ({ type: "accepted", queuePosition: 0 }));
    await ev.send({ type: "accepted", queuePosition: 0 });
    await ev.send({ type: "progress", phase: 1, step: 1, steps: 2, percent: 10 });
    await ev.send({ type: "progress", phase: 1, step: 2, steps: 2, percent: 20 });
    ev.progress({ phase: 1, step: 2, steps: 2, percent: 30 });
    await ev.send({ type: "cancelled", phasesCompleted: [] });
    await sleep(80); // no keep-alive either
    await ev.flush();
    expect(w.delivered.map((e) => e.seq)).toEqual([0]);
    expect(w.tries.map((e) => e.seq)).toEqual([0, 1]);
    expect(lost.map((e) => e.seq)).toEqual([1]);
    expect(ev.undelivered).toMatchObject({ seq: 1, type: "progress" });
  });

  it("gives up on a worker that is down after every retry, then stops likewise", async () => {
    const w = worker(() => 503);
    const lost: RunnerEvent[] = [];
    const ev = new JobEvents(job, w.http, { onUndeliverable: (e) => lost.push(e) });
    void ev.send({ type: "accepted", queuePosition: 0 });
    void ev.send({ type: "progress", phase: 1, step: 1, steps: 2, percent: 10 });
    await ev.flush();
    expect(w.tries.map((e) => e.seq)).toEqual([0, 0]);
    expect(lost.map((e) => e.seq)).toEqual([0]);
  });
});
