/**
 * The contract oracle on the fakes' loopback server (Node side): POST /_contract/check {doc, record} answers
 * {errors}. The documents are read from the worker itself (GET /openapi.json, /openapi/admin.json,
 * /openapi/internal.json) the first time each is needed, validated as documents, then used for every response.
 * It lives in Node because ajv compiles validators with `new Function`, which workerd refuses.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  contractAt,
  type OpenApiContract,
  type ResponseRecord,
  type StreamMessage,
} from "../../../tests/contract/openapi";

const PATHS = { public: "/openapi.json", admin: "/openapi/admin.json", internal: "/openapi/internal.json" };
export type ContractName = keyof typeof PATHS;

export class ContractService {
  private readonly loaded = new Map<ContractName, Promise<OpenApiContract>>();

  constructor(private readonly workerOrigin: () => string) {}

  private contract(name: ContractName): Promise<OpenApiContract> {
    let c = this.loaded.get(name);
    if (!c) {
      c = contractAt(`${this.workerOrigin()}${PATHS[name]}`, name);
      // A failed load (the runtime was not up yet) is tried again next time.
      c.catch(() => this.loaded.delete(name));
      this.loaded.set(name, c);
    }
    return c;
  }

  async handle(req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer): Promise<boolean> {
    if (req.method !== "POST" || url.pathname !== "/_contract/check") return false;
    const { doc, record, events } = JSON.parse(body.toString("utf8")) as {
      doc: ContractName;
      record?: ResponseRecord;
      events?: { method: string; path: string; messages: StreamMessage[] };
    };
    let errors: string[];
    try {
      const contract = await this.contract(doc);
      errors = record ? contract.check(record) : [];
      for (const m of events?.messages ?? []) errors.push(...contract.checkEvent(events!.method, events!.path, m));
    } catch (e) {
      errors = [`the ${doc} document could not be loaded: ${e instanceof Error ? e.message : String(e)}`];
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ errors }));
    return true;
  }
}
