/**
 * The API contract as a test oracle: an OpenAPI 3.1 document, checked as a whole with @apidevtools/swagger-parser,
 * and every response a test receives checked against it with ajv (draft 2020-12, OpenAPI 3.1's dialect): the
 * operation and status must be declared, the content type must be one the response declares, and a JSON body must
 * validate against its schema. Node only (ajv compiles validators with `new Function`, which workerd refuses): the
 * worker's tests send what they receive to this module through the loopback fakes (test/fakes/contract.ts).
 */
import SwaggerParser from "@apidevtools/swagger-parser";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

type Json = Record<string, unknown>;

export interface ResponseRecord {
  method: string;
  /** The request URL's path (no query). */
  path: string;
  status: number;
  contentType: string | null;
  /** The body as text; null when it was not read (a stream, or a binary download). */
  body: string | null;
}

interface Operation {
  responses?: Record<string, { content?: Record<string, { schema?: unknown }> }>;
}

interface Route {
  template: string;
  pattern: RegExp;
  literalChars: number;
  operations: Record<string, Operation>;
}

const METHODS = ["get", "put", "post", "delete", "patch", "head", "options"];

function pointer(...parts: string[]): string {
  return parts.map((p) => p.replaceAll("~", "~0").replaceAll("/", "~1")).join("/");
}

function mediaType(contentType: string): string {
  return contentType.split(";")[0].trim().toLowerCase();
}

export class OpenApiContract {
  private readonly ajv: Ajv2020;
  private readonly routes: Route[];
  private readonly validators = new Map<string, ValidateFunction>();

  private constructor(
    readonly name: string,
    doc: Json,
  ) {
    this.ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
    addFormats.default(this.ajv);
    this.ajv.addFormat("binary", true);
    this.ajv.addSchema(doc, name);
    const paths = (doc.paths ?? {}) as Record<string, Record<string, unknown>>;
    this.routes = Object.entries(paths).map(([template, item]) => {
      const operations: Record<string, Operation> = {};
      for (const m of METHODS) if (item[m]) operations[m] = item[m] as Operation;
      const source = template.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/\\\{[^/]+?\\\}/g, "[^/]+");
      return {
        template,
        pattern: new RegExp(`^${source}$`),
        literalChars: template.replace(/\{[^}]+\}/g, "").length,
        operations,
      };
    });
  }

  /** Validates the document itself (OpenAPI 3.1 schema and every $ref), then prepares the body validators. */
  static async load(name: string, doc: Json): Promise<OpenApiContract> {
    await SwaggerParser.validate(structuredClone(doc) as never);
    return new OpenApiContract(name, doc);
  }

  /** The documented path template a request path falls under (the most literal one when several match). */
  route(path: string): Route | undefined {
    return this.routes
      .filter((r) => r.pattern.test(path))
      .sort((a, b) => b.literalChars - a.literalChars || a.template.localeCompare(b.template))[0];
  }

  /** What is wrong with a response, as readable lines; empty when it is what the document promises. */
  check(r: ResponseRecord): string[] {
    const where = `${r.method} ${r.path} -> ${r.status}`;
    // A CORS preflight is the browser's transport handshake, which OpenAPI does not describe.
    if (r.method.toUpperCase() === "OPTIONS") return [];
    const route = this.route(r.path);
    const method = r.method.toLowerCase();
    const op = route?.operations[method];
    if (!route || !op) return this.undocumented(r, where, route ? `${method.toUpperCase()} ${route.template}` : null);
    const code = String(r.status);
    const declared = op.responses?.[code] ? code : op.responses?.[`${code[0]}XX`] ? `${code[0]}XX` : "default";
    const response = op.responses?.[declared];
    if (!response) return [`${where}: status ${code} is not documented for ${method.toUpperCase()} ${route.template}`];
    const content = response.content;
    if (!content || r.status === 304 || method === "head") return [];
    if (!r.contentType) return [`${where}: no Content-Type (documented: ${Object.keys(content).join(", ")})`];
    const type = mediaType(r.contentType);
    const entry = Object.entries(content).find(([t]) => {
      const m = mediaType(t);
      return m === type || m === "*/*" || (m.endsWith("/*") && type.startsWith(m.slice(0, -1)));
    });
    if (!entry) return [`${where}: Content-Type ${type} is not documented (${Object.keys(content).join(", ")})`];
    // Bodies are validated where the document declares JSON for them (a `*/*` download is just bytes).
    const declaredType = mediaType(entry[0]);
    const isJson = declaredType === "application/json" || declaredType.endsWith("+json");
    if (r.body === null || !isJson || entry[1].schema === undefined) return [];
    let value: unknown;
    try {
      value = JSON.parse(r.body);
    } catch {
      return [`${where}: the body is not JSON: ${r.body.slice(0, 200)}`];
    }
    const validate = this.validator(
      pointer("paths", route.template, method, "responses", declared, "content", entry[0]),
    );
    if (validate(value)) return [];
    return (validate.errors ?? []).map(
      (e) => `${where}: ${e.instancePath || "(body)"} ${e.message}${e.params ? ` ${JSON.stringify(e.params)}` : ""}`,
    );
  }

  /**
   * What is wrong with one Server-Sent Event a documented stream sent (`data` as received, JSON text): it must be one
   * of the messages the operation's text/event-stream schema lists.
   */
  checkEvent(method: string, path: string, message: StreamMessage): string[] {
    const where = `${method} ${path} event ${message.event} (id ${message.id})`;
    const route = this.route(path);
    const m = method.toLowerCase();
    if (!route?.operations[m]?.responses?.["200"]?.content?.["text/event-stream"]) {
      return [`${where}: not a documented event stream`];
    }
    let data: unknown;
    try {
      data = JSON.parse(message.data);
    } catch {
      return [`${where}: data is not JSON: ${message.data.slice(0, 200)}`];
    }
    const validate = this.validator(
      pointer("paths", route.template, m, "responses", "200", "content", "text/event-stream"),
    );
    const value = { event: message.event, id: message.id, data };
    return validate(value) ? [] : [`${where}: ${this.ajv.errorsText(validate.errors)}`];
  }

  /** A request no operation covers may only be refused: 404 or 405 as a problem (components/schemas/Problem). */
  private undocumented(r: ResponseRecord, where: string, operation: string | null): string[] {
    const what = operation ? `${operation} is not documented in ${this.name}` : `no documented path in ${this.name}`;
    if (r.status !== 404 && r.status !== 405) return [`${where}: ${what}`];
    if (!r.contentType || mediaType(r.contentType) !== "application/problem+json" || r.body === null) {
      return [`${where}: an unknown route must answer application/problem+json (${what})`];
    }
    const validate = this.validator("components/schemas/Problem", "");
    let value: unknown;
    try {
      value = JSON.parse(r.body);
    } catch {
      return [`${where}: the body is not JSON`];
    }
    return validate(value) ? [] : [`${where}: not a problem: ${this.ajv.errorsText(validate.errors)}`];
  }

  private validator(mediaPointer: string, suffix = "/schema"): ValidateFunction {
    let v = this.validators.get(mediaPointer);
    if (!v) {
      v = this.ajv.compile({ $ref: `${this.name}#/${mediaPointer}${suffix}` });
      this.validators.set(mediaPointer, v);
    }
    return v;
  }
}

/** Reads what a response says for the contract without consuming it (JSON and problem bodies only). */
export async function responseRecord(method: string, url: string, res: Response): Promise<ResponseRecord> {
  const contentType = res.headers.get("content-type");
  const type = contentType ? mediaType(contentType) : "";
  const readable = type === "application/json" || type.endsWith("+json");
  return {
    method,
    path: new URL(url).pathname,
    status: res.status,
    contentType,
    body: readable ? await res.clone().text() : null,
  };
}

export interface StreamMessage {
  event: string;
  id: string | null;
  data: string;
}

export class ContractViolation extends Error {}

/** Fetches a served document and loads it as a contract. */
export async function contractAt(url: string, name: string): Promise<OpenApiContract> {
  const res = await fetch(url);
  if (res.status !== 200) throw new ContractViolation(`GET ${url}: HTTP ${res.status}`);
  return OpenApiContract.load(name, (await res.json()) as Json);
}
