/**
 * A loopback HTTP proxy between the worker and one runner address, playing a faulty network: it holds every cancel
 * until the job's next attempt has been accepted through it (the worst moment for a late cancel to arrive), then
 * delivers it, even if the worker stopped waiting for the answer. While nothing listens behind it (the runner was
 * killed), it resets the worker's connection, as the runner's host itself would refuse it.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface Forwarded {
  method: string;
  path: string;
  /** The job a job POST or a cancel is about. */
  jobId: string | null;
  /** The attempt a job POST carries, or the one a cancel names (null: a cancel that names none). */
  attempt: number | null;
  arrivedAt: number;
  forwardedAt: number;
  /** The runner's answer; 0 when it could not be reached (the worker's connection was reset). */
  status: number;
}

export interface DelayingProxy {
  url: string;
  log: Forwarded[];
  close(): Promise<void>;
}

const CANCEL = /^\/v1\/jobs\/([^/]+)\/(?:attempts\/(\d+)\/)?cancel$/;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

export async function startDelayingProxy(target: string, o: { maxHoldMs?: number } = {}): Promise<DelayingProxy> {
  const log: Forwarded[] = [];
  const maxHoldMs = o.maxHoldMs ?? 120_000;
  const acceptedAttempts = (jobId: string) =>
    log.filter((f) => f.path === "/v1/jobs" && f.jobId === jobId && f.status === 202).map((f) => f.attempt ?? 0);

  const server: Server = createServer(async (req, res) => {
    const arrivedAt = Date.now();
    const body = await readAll(req);
    const path = req.url ?? "/";
    const method = req.method ?? "GET";
    let attempt: number | null = null;
    let jobId: string | null = null;
    const cancel = method === "POST" ? CANCEL.exec(path) : null;
    if (cancel) {
      jobId = decodeURIComponent(cancel[1]);
      attempt = cancel[2] ? Number(cancel[2]) : null;
      // Held until a later attempt of the job was accepted (any attempt, for a cancel that names none).
      const after = attempt ?? 0;
      const since = Date.now();
      while (!acceptedAttempts(jobId).some((a) => a > after) && Date.now() - since < maxHoldMs) await sleep(50);
      await sleep(500); // the new attempt is under way on the runner
    } else if (method === "POST" && path === "/v1/jobs") {
      const job = JSON.parse(body.toString()) as { jobId: string; attempt: number };
      [jobId, attempt] = [job.jobId, job.attempt];
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (typeof v === "string" && k !== "host" && k !== "connection" && k !== "content-length") headers[k] = v;
    }
    const entry: Forwarded = { method, path, jobId, attempt, arrivedAt, forwardedAt: Date.now(), status: 0 };
    try {
      const answer = await fetch(`${target}${path}`, {
        method,
        headers,
        body: method === "GET" || method === "HEAD" ? undefined : body,
      });
      const bytes = Buffer.from(await answer.arrayBuffer());
      entry.status = answer.status;
      log.push(entry);
      const out: Record<string, string> = {};
      for (const h of ["content-type", "retry-after"]) {
        const v = answer.headers.get(h);
        if (v) out[h] = v;
      }
      if (!res.destroyed) res.writeHead(answer.status, out).end(bytes);
    } catch {
      log.push(entry);
      req.socket.resetAndDestroy();
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    log,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
