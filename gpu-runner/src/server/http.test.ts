import { describe, expect, it } from "vitest";
import { PermanentHttpError, type SignedHttp, signedFetch, transferTimeoutMs } from "./http";
import { silentLogger } from "./log";

/** A fetch that answers `statuses` in turn (the last one from then on) and records each try's signal. */
function scripted(statuses: number[]) {
  const tries: AbortSignal[] = [];
  const fetch = (async (_url: string, init: RequestInit) => {
    tries.push(init.signal!);
    return new Response("no", { status: statuses[Math.min(tries.length - 1, statuses.length - 1)] });
  }) as typeof globalThis.fetch;
  return { fetch, tries };
}

/** A fetch that never answers: only its signal ends a try (a worker that took the connection and hung). */
function hanging() {
  const tries: AbortSignal[] = [];
  const fetch = ((_url: string, init: RequestInit) => {
    tries.push(init.signal!);
    return new Promise<Response>((_, reject) => {
      init.signal!.addEventListener("abort", () => reject(init.signal!.reason));
    });
  }) as typeof globalThis.fetch;
  return { fetch, tries };
}

const http = (f: typeof fetch, over: Partial<SignedHttp> = {}): SignedHttp => ({
  secret: "s",
  fetch: f,
  retry: { attempts: 3, baseMs: 1, maxMs: 2 },
  log: silentLogger,
  ...over,
});

/** What a call threw (an Error standing for "it did not throw" otherwise). */
const failure = (p: Promise<unknown>): Promise<Error> =>
  p.then(
    () => new Error("it resolved"),
    (e: Error) => e,
  );

const TARGET = "http://127.0.0.1:1/internal/jobs/j/events";

describe("signedFetch", () => {
  it("retries 5xx, 408, 425 and 429, and gives up on other 4xx at once (409 unknown and 410 superseded attempts)", async () => {
    for (const s of [500, 503, 408, 425, 429]) {
      const f = scripted([s, 200]);
      expect((await signedFetch(http(f.fetch), TARGET, { method: "POST", body: "{}" })).status).toBe(200);
      expect(f.tries.length, String(s)).toBe(2);
    }
    for (const s of [400, 401, 404, 409, 410, 413]) {
      const f = scripted([s, 200]);
      const err = await failure(signedFetch(http(f.fetch), TARGET, { method: "POST", body: "{}" }));
      expect(err, String(s)).toBeInstanceOf(PermanentHttpError);
      expect((err as PermanentHttpError).status).toBe(s);
      expect(f.tries.length, String(s)).toBe(1);
    }
  });

  it("abandons a try that gets no answer within its deadline, and retries it", async () => {
    const f = hanging();
    const t0 = Date.now();
    const err = await failure(signedFetch(http(f.fetch, { timeoutMs: 40 }), TARGET, { method: "POST", body: "{}" }));
    expect(err.message).toMatch(/giving up after 3 tries: .*no answer in 40 ms/);
    expect(f.tries.length).toBe(3);
    expect(Date.now() - t0).toBeLessThan(2_000);
  });

  it("a per-call deadline overrides the default one", async () => {
    const f = hanging();
    const once = http(f.fetch, { timeoutMs: 60_000, retry: { attempts: 1, baseMs: 1, maxMs: 1 } });
    const err = await failure(signedFetch(once, TARGET, { method: "PUT", body: new Uint8Array(10), timeoutMs: 30 }));
    expect(err.message).toMatch(/no answer in 30 ms/);
  });

  it("stops an in-flight try at once when the job is stopped (a cancel during an upload)", async () => {
    const f = hanging();
    const stop = new AbortController();
    const t0 = Date.now();
    const pending = failure(
      signedFetch(http(f.fetch, { timeoutMs: 60_000 }), TARGET, {
        method: "PUT",
        body: new Uint8Array(1000),
        stop: stop.signal,
      }),
    );
    await new Promise((r) => setTimeout(r, 20));
    stop.abort(new Error("cancelled by request"));
    const err = await pending;
    expect(err.message).toMatch(/stopped: .*cancelled by request/);
    expect(f.tries.length).toBe(1);
    expect(Date.now() - t0).toBeLessThan(1_000);
  });

  it("gives an upload 1 ms per kB on top of the base deadline", () => {
    const h = http(fetch, { timeoutMs: 30_000 });
    expect(transferTimeoutMs(h, 0)).toBe(30_000);
    expect(transferTimeoutMs(h, 30_000_000)).toBe(60_000);
    expect(transferTimeoutMs(http(fetch), 1000)).toBe(30_001);
  });
});
