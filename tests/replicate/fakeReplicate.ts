/**
 * A fake of Replicate's HTTP API on loopback that runs predictions on the repository's Cog predictor, as Replicate
 * runs a pushed model: one container (gpu-runner/cog/tests/replicate_harness.py: setup() once, then one prediction
 * at a time, with the stand-in `cog` module, since Cog cannot be installed here) behind the endpoints the worker's
 * `replicate` client calls — create (model, version or deployment), get, cancel — with the bearer token checked.
 * Each prediction reports to its `webhook` as Replicate does: `start` when it starts, `logs` as its output grows
 * (at most every 500 ms), `completed` when it ends, each filtered by `webhook_events_filter` and signed with the
 * Standard Webhooks scheme (node:crypto here, independently of the worker's Web Crypto verifier). Output files are
 * served under /files/ as Replicate's delivery URLs are.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createHmac, randomUUID } from "node:crypto";
import { createReadStream, statSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { basename } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const HARNESS = fileURLToPath(new URL("../../gpu-runner/cog/tests/replicate_harness.py", import.meta.url));
const LOG_THROTTLE_MS = 500;

export interface FakePrediction {
  id: string;
  status: "starting" | "processing" | "succeeded" | "failed" | "canceled";
  input: Record<string, unknown>;
  output: unknown;
  error: string | null;
  logs: string;
  webhook?: string;
  webhook_events_filter?: string[];
  created_at: string;
  started_at?: string;
  completed_at?: string;
  metrics?: { predict_time?: number };
  urls: { get: string; cancel: string };
}

export interface WebhookSent {
  prediction: string;
  event: string;
  status: string;
  http: number;
}

export interface FakeReplicateOptions {
  token: string;
  /** "whsec_<base64>" */
  webhookSecret: string;
  /** Environment of the predictor's container (PROVIDER, BUNDLE_DIR, ...). */
  env: Record<string, string>;
}

type HarnessMessage =
  | { event: "ready" }
  | { event: "log"; id: string | null; line: string }
  | { event: "done"; id: string; status: "succeeded" | "failed" | "canceled"; output?: unknown; error?: string };

function send(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

export function signStandardWebhook(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  return `v1,${createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64")}`;
}

export class FakeReplicate {
  readonly predictions: FakePrediction[] = [];
  readonly created: { path: string; body: Record<string, unknown> }[] = [];
  readonly cancels: string[] = [];
  readonly webhooks: WebhookSent[] = [];
  /** Every line the container printed outside predictions (setup). */
  readonly containerLogs: string[] = [];
  url = "";
  private server: Server | null = null;
  private child: ChildProcess | null = null;
  private queue: FakePrediction[] = [];
  private running: FakePrediction | null = null;
  private files = new Map<string, string>();
  private chains = new Map<string, Promise<void>>();
  private lastLogsHook = new Map<string, number>();
  private logTimers = new Map<string, ReturnType<typeof setTimeout>>();

  constructor(private readonly o: FakeReplicateOptions) {}

  /** Starts the API and the container, and waits until its setup() has finished. */
  async start(timeoutMs = 180_000): Promise<void> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((e) => send(res, 500, { detail: String(e) }));
    });
    await new Promise<void>((r) => this.server?.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    const child = spawn("python3", [HARNESS], {
      env: { ...process.env, ...this.o.env },
      stdio: ["pipe", "pipe", "inherit"],
    });
    this.child = child;
    let ready: () => void = () => {};
    const isReady = new Promise<void>((r) => {
      ready = r;
    });
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      let msg: HarnessMessage;
      try {
        msg = JSON.parse(line) as HarnessMessage;
      } catch {
        return;
      }
      if (msg.event === "ready") ready();
      else if (msg.event === "log") this.onLog(msg.id, msg.line);
      else if (msg.event === "done") this.onDone(msg);
    });
    const exited = new Promise<never>((_, reject) =>
      child.once("exit", (code) => reject(new Error(`the predictor's container exited (${code})`))),
    );
    exited.catch(() => {});
    const timer = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error("the predictor's setup() did not finish in time")), timeoutMs).unref(),
    );
    await Promise.race([isReady, exited, timer]);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null) {
      const gone = new Promise<void>((r) => child.once("exit", () => r()));
      child.stdin?.end();
      const kill = setTimeout(() => child.kill("SIGKILL"), 30_000);
      await gone;
      clearTimeout(kill);
    }
    await Promise.all([...this.chains.values()]);
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.url);
    const path = url.pathname;
    const file = /^\/files\/([\w-]+)\/([\w.-]+)$/.exec(path);
    if (file && req.method === "GET") {
      const local = this.files.get(`${file[1]}/${file[2]}`);
      if (!local) return send(res, 404, { detail: "not found" });
      res.writeHead(200, { "content-length": String(statSync(local).size), "content-type": "image/png" });
      createReadStream(local).pipe(res);
      return;
    }
    if (req.headers.authorization !== `Bearer ${this.o.token}`) return send(res, 401, { detail: "Unauthenticated" });
    const get = /^\/v1\/predictions\/([\w-]+)$/.exec(path);
    if (get && req.method === "GET") {
      const p = this.predictions.find((x) => x.id === get[1]);
      return send(res, p ? 200 : 404, p ?? { detail: "not found" });
    }
    const cancel = /^\/v1\/predictions\/([\w-]+)\/cancel$/.exec(path);
    if (cancel && req.method === "POST") {
      const p = this.predictions.find((x) => x.id === cancel[1]);
      if (!p) return send(res, 404, { detail: "not found" });
      this.cancels.push(p.id);
      if (p.status === "starting") {
        this.queue = this.queue.filter((x) => x !== p);
        this.finish(p, "canceled");
      } else if (p === this.running) {
        this.child?.stdin?.write(`${JSON.stringify({ op: "cancel", id: p.id })}\n`);
      }
      return send(res, 200, p);
    }
    const create =
      /^\/v1\/(?:models\/[\w.-]+\/[\w.-]+\/predictions|predictions|deployments\/[\w.-]+\/[\w.-]+\/predictions)$/;
    if (!create.test(path) || req.method !== "POST") return send(res, 404, { detail: "not found" });
    const body = JSON.parse(await readBody(req)) as Record<string, unknown>;
    this.created.push({ path, body });
    const id = randomUUID().replace(/-/g, "").slice(0, 20);
    const p: FakePrediction = {
      id,
      status: "starting",
      input: body.input as Record<string, unknown>,
      output: null,
      error: null,
      logs: "",
      webhook: body.webhook as string | undefined,
      webhook_events_filter: body.webhook_events_filter as string[] | undefined,
      created_at: new Date().toISOString(),
      urls: { get: `${this.url}/v1/predictions/${id}`, cancel: `${this.url}/v1/predictions/${id}/cancel` },
    };
    this.predictions.push(p);
    this.queue.push(p);
    send(res, 201, p);
    setImmediate(() => this.next());
  }

  /** The container takes the next prediction when it is idle. */
  private next(): void {
    if (this.running || this.queue.length === 0) return;
    const p = this.queue.shift() as FakePrediction;
    this.running = p;
    p.status = "processing";
    p.started_at = new Date().toISOString();
    this.hook(p, "start");
    this.child?.stdin?.write(`${JSON.stringify({ op: "predict", id: p.id, input: p.input })}\n`);
  }

  private onLog(id: string | null, line: string): void {
    const p = id ? this.predictions.find((x) => x.id === id) : undefined;
    if (!p) {
      this.containerLogs.push(line);
      return;
    }
    p.logs += `${line}\n`;
    if (this.logTimers.has(p.id)) return;
    const wait = Math.max(0, (this.lastLogsHook.get(p.id) ?? 0) + LOG_THROTTLE_MS - Date.now());
    this.logTimers.set(
      p.id,
      setTimeout(() => {
        this.logTimers.delete(p.id);
        this.lastLogsHook.set(p.id, Date.now());
        if (p.status === "processing") this.hook(p, "logs");
      }, wait),
    );
  }

  private onDone(msg: Extract<HarnessMessage, { event: "done" }>): void {
    const p = this.predictions.find((x) => x.id === msg.id);
    if (!p) return;
    clearTimeout(this.logTimers.get(p.id));
    this.logTimers.delete(p.id);
    if (msg.status === "succeeded") p.output = this.publish(p.id, msg.output);
    if (msg.status === "failed") p.error = msg.error ?? "prediction failed";
    p.metrics = { predict_time: (Date.now() - Date.parse(p.started_at ?? p.created_at)) / 1000 };
    this.finish(p, msg.status);
    this.running = null;
    this.next();
  }

  private finish(p: FakePrediction, status: FakePrediction["status"]): void {
    p.status = status;
    p.completed_at = new Date().toISOString();
    this.hook(p, "completed");
  }

  /** Output files become delivery URLs; everything else is kept as it is. */
  private publish(id: string, value: unknown): unknown {
    if (Array.isArray(value)) return value.map((v) => this.publish(id, v));
    if (value && typeof value === "object") {
      const o = value as Record<string, unknown>;
      if (typeof o.file === "string" && Object.keys(o).length === 1) {
        const name = basename(o.file).replace(/[^\w.-]/g, "_");
        this.files.set(`${id}/${name}`, o.file);
        return `${this.url}/files/${id}/${name}`;
      }
      return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, this.publish(id, v)]));
    }
    return value;
  }

  /** Delivers one webhook (in order per prediction), with the prediction as it is now. */
  private hook(p: FakePrediction, event: string): void {
    if (!p.webhook || (p.webhook_events_filter && !p.webhook_events_filter.includes(event))) return;
    const body = JSON.stringify(p);
    const status = p.status;
    const target = p.webhook;
    const prev = this.chains.get(p.id) ?? Promise.resolve();
    const next = prev.then(async () => {
      const id = `msg_${randomUUID()}`;
      const ts = Math.floor(Date.now() / 1000);
      let http = 0;
      try {
        const res = await fetch(target, {
          method: "POST",
          body,
          headers: {
            "content-type": "application/json",
            "webhook-id": id,
            "webhook-timestamp": String(ts),
            "webhook-signature": signStandardWebhook(this.o.webhookSecret, id, ts, body),
          },
        });
        await res.arrayBuffer();
        http = res.status;
      } catch {
        http = 0;
      }
      this.webhooks.push({ prediction: p.id, event, status, http });
    });
    this.chains.set(p.id, next);
  }
}
