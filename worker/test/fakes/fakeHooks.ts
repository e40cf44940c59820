/**
 * A webhook receiver and a DNS-over-HTTPS resolver on loopback (Node side of the tests). The receiver records every
 * delivery exactly as it arrived (raw body and the Standard Webhooks headers) so that tests verify signatures with
 * the `standardwebhooks` package; per hook name it can fail the first N deliveries. The resolver answers the JSON
 * DoH API from a table tests may change (a name re-pointed at a private address after it was accepted).
 */
import type { IncomingMessage, ServerResponse } from "node:http";

export interface HookDelivery {
  name: string;
  headers: Record<string, string>;
  body: string;
  status: number;
  at: number;
}

interface HookScenario {
  /** Answer the first `failFirst` deliveries with `status` (default 500). */
  failFirst?: number;
  status?: number;
}

type Record2 = { A?: string[]; AAAA?: string[] };

const DNS: Record<string, Record2> = {
  "public.hooks.test": { A: ["93.184.215.14"] },
  "private.hooks.test": { A: ["93.184.215.14", "10.20.30.40"] },
  "metadata.hooks.test": { A: ["169.254.169.254"] },
  "ula.hooks.test": { AAAA: ["fd00::5"] },
  "loop.hooks.test": { A: ["127.0.0.1"] },
};

function send(res: ServerResponse, status: number, body: unknown, type = "application/json") {
  res.writeHead(status, { "content-type": type });
  res.end(JSON.stringify(body));
}

export class FakeHooks {
  readonly deliveries: HookDelivery[] = [];
  private scenarios = new Map<string, HookScenario>();
  private dns = new Map<string, Record2>(Object.entries(DNS));

  async handle(req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer): Promise<boolean> {
    const path = url.pathname;
    const hook = /^\/hooks\/([\w.-]+)$/.exec(path);
    if (hook && req.method === "POST") {
      const name = hook[1];
      const scenario = this.scenarios.get(name) ?? {};
      const before = this.deliveries.filter((d) => d.name === name).length;
      const status = before < (scenario.failFirst ?? 0) ? (scenario.status ?? 500) : 204;
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers[k] = v;
      this.deliveries.push({ name, headers, body: body.toString("utf8"), status, at: Date.now() });
      res.writeHead(status).end();
      return true;
    }
    if (path === "/_control/hooks/scenario" && req.method === "POST") {
      const { name, scenario } = JSON.parse(body.toString()) as { name: string; scenario: HookScenario };
      this.scenarios.set(name, scenario);
      send(res, 200, { ok: true });
      return true;
    }
    if (path === "/_control/hooks" && req.method === "GET") {
      const name = url.searchParams.get("name");
      send(res, 200, { deliveries: this.deliveries.filter((d) => d.name === name) });
      return true;
    }
    if (path === "/_control/dns" && req.method === "POST") {
      const { name, records } = JSON.parse(body.toString()) as { name: string; records: Record2 };
      this.dns.set(name, records);
      send(res, 200, { ok: true });
      return true;
    }
    if (path === "/dns-query" && req.method === "GET") {
      const name = (url.searchParams.get("name") ?? "").toLowerCase();
      const type = url.searchParams.get("type") === "AAAA" ? "AAAA" : "A";
      const rec = this.dns.get(name);
      const answers = (rec?.[type] ?? []).map((data) => ({ name, type: type === "A" ? 1 : 28, TTL: 60, data }));
      send(res, 200, { Status: rec ? 0 : 3, Answer: answers }, "application/dns-json");
      return true;
    }
    return false;
  }
}
