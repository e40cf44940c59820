/**
 * A fake Replicate API on loopback: the endpoints the `replicate` client calls to create and cancel predictions
 * (bearer token checked), output files it serves, and webhooks it delivers to the worker signed the way Replicate
 * does (Standard Webhooks, computed here with node:crypto — independently of the worker's Web Crypto verifier).
 * Per prompt, a test may make the prediction fail, or have every webhook delivered twice.
 */
import { createHmac, randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { makePng } from "./png";
import { TEST_SECRETS } from "./secrets";

export interface ReplicateScenario {
  outcome?: "succeeded" | "failed";
  duplicateWebhooks?: boolean;
  /** Sign webhooks with another secret (the worker must refuse them). */
  forgeSignatures?: boolean;
  /** Deliver no webhook at all (the worker must ask when its lease runs out). */
  dropWebhooks?: boolean;
  /** The first N predictions of the prompt fail as the Cog predictor reports a dead runner ("retryable: ..."). */
  retryableFailures?: number;
}

interface Prediction {
  id: string;
  status: string;
  input: { job: string };
  output: unknown;
  error: string | null;
  logs: string;
  webhook?: string;
  webhook_events_filter?: string[];
  created_at: string;
  urls: { get: string; cancel: string };
  metrics?: { predict_time?: number };
}

function send(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

export function signWebhook(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  return `v1,${createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64")}`;
}

export class FakeReplicate {
  readonly predictions: Prediction[] = [];
  readonly created: { path: string; body: Record<string, unknown> }[] = [];
  readonly cancels: string[] = [];
  readonly webhookResponses: { id: string; status: string; http: number }[] = [];
  private scenarios = new Map<string, ReplicateScenario>();

  constructor(private readonly origin: () => string) {}

  async handle(req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer): Promise<boolean> {
    const path = url.pathname;
    if (path === "/_control/replicate/scenario" && req.method === "POST") {
      const { prompt, scenario } = JSON.parse(body.toString()) as { prompt: string; scenario: ReplicateScenario };
      this.scenarios.set(prompt, scenario);
      send(res, 200, { ok: true });
      return true;
    }
    if (path === "/_control/replicate" && req.method === "GET") {
      send(res, 200, {
        predictions: this.predictions,
        created: this.created,
        cancels: this.cancels,
        webhookResponses: this.webhookResponses,
      });
      return true;
    }
    const file = /^\/replicate-files\/([\w-]+)\.png$/.exec(path);
    if (file && req.method === "GET") {
      const png = makePng(96, 96, 5);
      res.writeHead(200, { "content-type": "image/png", "content-length": String(png.length) });
      res.end(png);
      return true;
    }
    if (!path.startsWith("/replicate/v1/")) return false;
    if (req.headers.authorization !== `Bearer ${TEST_SECRETS.REPLICATE_API_TOKEN}`) {
      send(res, 401, { detail: "Unauthenticated" });
      return true;
    }
    const get = /^\/replicate\/v1\/predictions\/([\w-]+)$/.exec(path);
    if (get && req.method === "GET") {
      const p = this.predictions.find((x) => x.id === get[1]);
      send(res, p ? 200 : 404, p ?? { detail: "not found" });
      return true;
    }
    const cancel = /^\/replicate\/v1\/predictions\/([\w-]+)\/cancel$/.exec(path);
    if (cancel && req.method === "POST") {
      this.cancels.push(cancel[1]);
      const p = this.predictions.find((x) => x.id === cancel[1]);
      if (p) p.status = "canceled";
      send(res, 200, p ?? { detail: "not found" });
      return true;
    }
    const create =
      /^\/replicate\/v1\/(?:models\/[\w.-]+\/[\w.-]+\/predictions|predictions|deployments\/[\w.-]+\/[\w.-]+\/predictions)$/.exec(
        path,
      );
    if (!create || req.method !== "POST") return false;
    const input = JSON.parse(body.toString()) as Record<string, unknown>;
    this.created.push({ path, body: input });
    const id = randomUUID().replace(/-/g, "").slice(0, 20);
    const p: Prediction = {
      id,
      status: "starting",
      input: input.input as { job: string },
      output: null,
      error: null,
      logs: "",
      webhook: input.webhook as string | undefined,
      webhook_events_filter: input.webhook_events_filter as string[] | undefined,
      created_at: new Date().toISOString(),
      urls: {
        get: `${this.origin()}/replicate/v1/predictions/${id}`,
        cancel: `${this.origin()}/replicate/v1/predictions/${id}/cancel`,
      },
    };
    this.predictions.push(p);
    send(res, 201, p);
    setImmediate(() => {
      this.run(p).catch((err) => console.error("fake replicate:", err));
    });
    return true;
  }

  private async webhook(p: Prediction, event: string, scenario: ReplicateScenario): Promise<void> {
    if (scenario.dropWebhooks) return;
    if (!p.webhook || (p.webhook_events_filter && !p.webhook_events_filter.includes(event))) return;
    const body = JSON.stringify(p);
    const id = `msg_${randomUUID()}`;
    const ts = Math.floor(Date.now() / 1000);
    const secret = scenario.forgeSignatures
      ? `whsec_${Buffer.from("not-the-secret").toString("base64")}`
      : TEST_SECRETS.REPLICATE_WEBHOOK_SECRET;
    const headers = {
      "content-type": "application/json",
      "webhook-id": id,
      "webhook-timestamp": String(ts),
      "webhook-signature": signWebhook(secret, id, ts, body),
    };
    const times = scenario.duplicateWebhooks ? 2 : 1;
    for (let i = 0; i < times; i++) {
      const res = await fetch(p.webhook, { method: "POST", headers, body });
      await res.arrayBuffer();
      this.webhookResponses.push({ id: p.id, status: p.status, http: res.status });
    }
  }

  private promptOf(p: Prediction): string {
    return (JSON.parse(p.input.job) as { params: { prompt: string } }).params.prompt;
  }

  private async run(p: Prediction): Promise<void> {
    const job = JSON.parse(p.input.job) as { params: { prompt: string } };
    const scenario = this.scenarios.get(job.params.prompt) ?? {};
    p.status = "processing";
    await this.webhook(p, "start", scenario);
    p.logs = "Using seed: 1\n 50%|█████     | 1/2 [00:00<00:00, 10.00it/s]\n";
    await this.webhook(p, "logs", scenario);
    if (p.status === "canceled") return;
    const earlier = this.predictions.filter((x) => x !== p && x.input.job && this.promptOf(x) === job.params.prompt);
    if (earlier.length < (scenario.retryableFailures ?? 0)) {
      p.status = "failed";
      p.error = "retryable: the runner exited (137): (fake)";
    } else if (scenario.outcome === "failed") {
      p.status = "failed";
      p.error = "CUDA out of memory (fake)";
    } else {
      p.status = "succeeded";
      p.output = [`${this.origin()}/replicate-files/${p.id}.png`];
      p.metrics = { predict_time: 1.5 };
    }
    await this.webhook(p, "completed", scenario);
  }
}
