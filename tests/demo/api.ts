/**
 * A small client of the worker's HTTP API, as a mobile app or an operator would call it: admin (accounts, keys,
 * credit) with the admin token, and the public API with an account's key. Every response is checked against the
 * OpenAPI document the worker serves (/openapi.json, /openapi/admin.json) with a real validator, so a drift between
 * what the API sends and what it documents fails the demo and the end-to-end test.
 */
import type { z } from "zod";
import type { JobViewSchema } from "../../worker/src/jobs/viewSchema";
import {
  ContractViolation,
  contractAt,
  type OpenApiContract,
  responseRecord,
  type StreamMessage,
} from "../contract/openapi";

export type JobView = z.infer<typeof JobViewSchema>;

export interface LedgerEntry {
  seq: number;
  at: string;
  kind: string;
  amount: number;
  jobId: string | null;
  [field: string]: unknown;
}

export interface Usage {
  balance: number;
  reserved: number;
  reservations: { jobId: string; amount: number }[];
  ledger: { entries: LedgerEntry[]; nextCursor: number | null };
}

export interface QuoteView {
  price: number;
  lines: { phase: number; cached: boolean; amount: number }[];
  cache: { phase1: string; phasesServed: number[]; phasesComputed: number[] } | null;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function problemLine(what: string, res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => "");
  let detail = text.slice(0, 300);
  try {
    const p = JSON.parse(text) as { title?: string; detail?: string; errors?: { path: string; message: string }[] };
    const errors = p.errors?.map((e) => `${e.path || "(body)"}: ${e.message}`).join("; ");
    detail = [p.title, p.detail, errors].filter(Boolean).join(": ");
  } catch {
    // not problem+json: keep the text
  }
  return new ApiError(res.status, `${what}: HTTP ${res.status}${detail ? ` ${detail}` : ""}`);
}

type Contracts = Map<string, Promise<OpenApiContract>>;

export class Api {
  constructor(
    readonly base: string,
    private readonly token: string,
    private readonly contracts: Contracts = new Map(),
  ) {}

  /** The same API with another bearer token (admin token -> an account's key). */
  as(token: string): Api {
    return new Api(this.base, token, this.contracts);
  }

  private contract(path: string): Promise<OpenApiContract> | null {
    const doc = path.startsWith("/v1/") ? "/openapi.json" : path.startsWith("/admin/") ? "/openapi/admin.json" : null;
    if (!doc) return null;
    let c = this.contracts.get(doc);
    if (!c) {
      c = contractAt(new URL(doc, this.base).href, doc);
      this.contracts.set(doc, c);
    }
    return c;
  }

  /** Throws when one Server-Sent Event of a documented stream (`url`) is not a documented message. */
  async conformEvent(url: string, message: StreamMessage): Promise<void> {
    const path = new URL(url, this.base).pathname;
    const contract = this.contract(path);
    const errors = contract ? (await contract).checkEvent("GET", path, message) : [];
    if (errors.length > 0) throw new ContractViolation(`not as documented:\n  ${errors.join("\n  ")}`);
  }

  /** Throws when `res` is not what the worker's OpenAPI document promises for `method url`; returns it unread. */
  async conform(method: string, url: string, res: Response): Promise<Response> {
    const contract = this.contract(new URL(url).pathname);
    if (!contract) return res;
    const errors = (await contract).check(await responseRecord(method, url, res));
    if (errors.length > 0) throw new ContractViolation(`not as documented:\n  ${errors.join("\n  ")}`);
    return res;
  }

  async call(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    signal?: AbortSignal,
  ): Promise<Response> {
    const init: RequestInit = { method, headers: { authorization: `Bearer ${this.token}`, ...headers }, signal };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      (init.headers as Record<string, string>)["content-type"] = "application/json";
    }
    const url = new URL(path, this.base).href;
    return this.conform(method, url, await fetch(url, init));
  }

  /** Calls and parses JSON, accepting only the listed statuses. */
  async json<T>(method: string, path: string, ok: number[], body?: unknown, headers?: Record<string, string>) {
    const res = await this.call(method, path, body, headers);
    if (!ok.includes(res.status)) throw await problemLine(`${method} ${path}`, res);
    return { status: res.status, body: (await res.json()) as T };
  }

  // --- admin ---

  async createAccount(name: string): Promise<string> {
    return (await this.json<{ id: string }>("POST", "/admin/accounts", [201], { name })).body.id;
  }

  async issueKey(accountId: string, name: string): Promise<string> {
    return (await this.json<{ key: string }>("POST", `/admin/accounts/${accountId}/keys`, [201], { name })).body.key;
  }

  async credit(accountId: string, amount: number, reference: string): Promise<number> {
    const r = await this.json<{ balance: number }>("POST", `/admin/accounts/${accountId}/credit`, [200, 201], {
      amount,
      reference,
    });
    return r.body.balance;
  }

  // --- public ---

  async quote(params: Record<string, string | number>): Promise<QuoteView> {
    const q = new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]));
    return (await this.json<QuoteView>("GET", `/v1/quote?${q}`, [200])).body;
  }

  /** POST /v1/images: 202 (accepted, a runner will work on it) or 200 (answered from the cache at once). */
  async submit(body: Record<string, unknown>, idempotencyKey: string): Promise<{ status: number; job: JobView }> {
    const r = await this.json<unknown>("POST", "/v1/images", [200, 202], body, { "idempotency-key": idempotencyKey });
    return { status: r.status, job: r.body as JobView };
  }

  /** POST /v1/images as multipart: the request and the image to upscale (what a phone app uploads). */
  async submitWithImage(
    body: Record<string, unknown>,
    image: Uint8Array,
    idempotencyKey: string,
  ): Promise<{ status: number; job: JobView }> {
    const form = new FormData();
    form.set("request", JSON.stringify(body));
    form.set("image", new Blob([image], { type: "image/png" }), "upload.png");
    const url = new URL("/v1/images", this.base).href;
    const sent = await fetch(url, {
      method: "POST",
      headers: { authorization: `Bearer ${this.token}`, "idempotency-key": idempotencyKey },
      body: form,
    });
    const res = await this.conform("POST", url, sent);
    if (res.status !== 200 && res.status !== 202) throw await problemLine("POST /v1/images (multipart)", res);
    return { status: res.status, job: (await res.json()) as JobView };
  }

  async job(id: string): Promise<JobView> {
    return (await this.json<JobView>("GET", `/v1/images/${id}`, [200])).body;
  }

  async usage(limit = 200): Promise<Usage> {
    return (await this.json<Usage>("GET", `/v1/usage?limit=${limit}`, [200])).body;
  }

  /** A download by its signed link (no key, as an image view in an app would load it). */
  async download(url: string): Promise<Uint8Array> {
    const res = await this.conform("GET", url, await fetch(url));
    if (res.status !== 200) throw await problemLine(`GET ${new URL(url).pathname}`, res);
    return new Uint8Array(await res.arrayBuffer());
  }
}
