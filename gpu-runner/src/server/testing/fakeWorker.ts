/**
 * A loopback stand-in for the worker's internal endpoints, for tests of the runner service: it verifies signatures
 * like the worker does and records the events and uploads it receives.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type RunnerEvent, RunnerEventSchema, type RunnerJob, resolveRequest, verifyRequest } from "@accdiff/shared";

export interface FakeWorker {
  url: string;
  events: RunnerEvent[];
  uploads: Map<string, { contentType: string; bytes: Uint8Array }>;
  refused: string[];
  /**
   * When set and returning a status, a signed request is answered with that status (and not recorded): a worker that
   * refuses an attempt (410), or is down (503).
   */
  answer: ((method: string, path: string) => number | undefined) | null;
  /** Resolves when an event matching `pred` arrives. */
  waitFor(pred: (e: RunnerEvent) => boolean, timeoutMs?: number): Promise<RunnerEvent>;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(new Uint8Array(Buffer.concat(chunks))));
    req.on("error", reject);
  });
}

export async function startFakeWorker(secret: string): Promise<FakeWorker> {
  const events: RunnerEvent[] = [];
  const uploads = new Map<string, { contentType: string; bytes: Uint8Array }>();
  const refused: string[] = [];
  const waiters: { pred: (e: RunnerEvent) => boolean; resolve: (e: RunnerEvent) => void }[] = [];
  let answer: FakeWorker["answer"] = null;
  const server: Server = createServer(async (req, res) => {
    const body = await readBody(req);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers[k] = v;
    const v = await verifyRequest(secret, { method: req.method ?? "GET", path: req.url ?? "/", body, headers });
    if (!v.ok) {
      refused.push(v.reason);
      res.writeHead(401).end();
      return;
    }
    const path = req.url ?? "/";
    const forced = answer?.(req.method ?? "GET", path);
    if (forced !== undefined) {
      res.writeHead(forced, { "content-type": "application/problem+json" }).end(JSON.stringify({ status: forced }));
      return;
    }
    if (req.method === "POST" && path.endsWith("/events")) {
      const e = RunnerEventSchema.parse(JSON.parse(new TextDecoder().decode(body)));
      events.push(e);
      for (const w of [...waiters]) {
        if (w.pred(e)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(e);
        }
      }
      res.writeHead(204).end();
    } else if (req.method === "PUT" && path.includes("/artifacts/")) {
      uploads.set(path.slice(path.indexOf("/artifacts/") + "/artifacts/".length), {
        contentType: headers["content-type"] ?? "",
        bytes: body,
      });
      res.writeHead(201).end();
    } else if (req.method === "GET" && path.includes("/artifacts/")) {
      const u = uploads.get(path.slice(path.indexOf("/artifacts/") + "/artifacts/".length));
      if (!u) res.writeHead(404).end();
      else res.writeHead(200, { "content-type": u.contentType }).end(Buffer.from(u.bytes));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    events,
    uploads,
    refused,
    get answer() {
      return answer;
    },
    set answer(f) {
      answer = f;
    },
    waitFor(pred, timeoutMs = 20_000) {
      const hit = events.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error("timed out waiting for an event")), timeoutMs);
        waiters.push({
          pred,
          resolve: (e) => {
            clearTimeout(t);
            resolve(e);
          },
        });
      });
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/**
 * A job whose callback and upload URLs point at `worker`: a 1024x1024 toy-bundle request unless `over` says otherwise.
 * Shared by the service tests so that they all submit the same baseline job.
 */
export function jobFor(worker: Pick<FakeWorker, "url">, jobId: string, over: Partial<RunnerJob> = {}): RunnerJob {
  return {
    jobId,
    attempt: 1,
    bundleId: "toy",
    params: resolveRequest({ prompt: "a cat", width: 1024, height: 1024, seed: 1 }),
    callbackUrl: `${worker.url}/internal/jobs/${jobId}/events`,
    uploadUrl: `${worker.url}/internal/jobs/${jobId}/artifacts`,
    cacheKeys: { phase1: "a".repeat(64), phases: {} },
    ...over,
  };
}
