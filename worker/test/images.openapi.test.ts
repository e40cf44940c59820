/** GET /openapi.json: an OpenAPI 3.1 document generated from the same zod schemas the routes validate with. */
import { describe, expect, it } from "vitest";
import { api, expectJson, FAKE } from "./jobsHelpers";

interface Doc {
  openapi: string;
  paths: Record<string, Record<string, unknown>>;
  components: {
    schemas: Record<
      string,
      { type?: string; properties?: Record<string, unknown>; required?: string[]; additionalProperties?: unknown }
    >;
  };
}

function operations(doc: Doc): Record<string, unknown>[] {
  return Object.values(doc.paths).flatMap((item) =>
    Object.entries(item)
      .filter(([m]) => ["get", "post", "put", "delete", "patch"].includes(m))
      .map(([, op]) => op as Record<string, unknown>),
  );
}

describe("OpenAPI", () => {
  it("documents the public API with the request and job schemas", async () => {
    const doc = await expectJson<Doc>(await api("GET", "/openapi.json"), 200);
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths).sort()).toEqual([
      "/v1/images",
      "/v1/images/{id}",
      "/v1/images/{id}/events",
      "/v1/images/{id}/files/{name}",
      "/v1/images/{id}/webhooks",
      "/v1/quote",
      "/v1/uploads",
      "/v1/usage",
      "/v1/usage/export",
      "/v1/webhooks/secret",
    ]);
    expect(Object.keys(doc.paths["/v1/images/{id}"]).sort()).toEqual(["delete", "get", "parameters"]);
    const req = doc.components.schemas.GenerationRequest;
    expect(req.required).toEqual(expect.arrayContaining(["prompt", "width", "height"]));
    expect(req.additionalProperties).toBe(false);
    expect(Object.keys(req.properties ?? {})).toEqual(
      expect.arrayContaining(["c", "sigma", "switches", "image", "format", "webhook", "webhook_events"]),
    );
    const job = doc.components.schemas.Job;
    expect(Object.keys(job.properties ?? {})).toEqual(
      expect.arrayContaining(["status", "progress", "cache", "quote", "preview", "image"]),
    );
    // The runner protocol and the admin API are documented apart from what app developers see.
    expect(doc.components.schemas.RunnerEvent).toBeUndefined();
    expect(doc.components.schemas.RunnerJob).toBeUndefined();
    // Every operation has an operationId (generated clients name their methods after them), all distinct.
    const ids = operations(doc).map((o) => o.operationId);
    expect(ids.every((id) => typeof id === "string")).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("documents the admin API and the runner protocol in their own documents", async () => {
    const admin = await expectJson<Doc>(await api("GET", "/openapi/admin.json"), 200);
    expect(Object.keys(admin.paths).every((p) => p.startsWith("/admin/"))).toBe(true);
    expect(operations(admin).every((o) => (o.tags as string[]).includes("admin"))).toBe(true);
    expect(operations(admin).map((o) => o.operationId)).toEqual(
      expect.arrayContaining(["createAccount", "issueKey", "revokeKey", "creditAccount"]),
    );
    const internal = await expectJson<Doc>(await api("GET", "/openapi/internal.json"), 200);
    expect(internal.components.schemas.RunnerEvent).toBeDefined();
    expect(internal.components.schemas.RunnerJob).toBeDefined();
    expect(Object.keys(internal.paths).every((p) => p.startsWith("/internal/"))).toBe(true);
  });

  it("declares the quote's query parameters, derived from the request schema", async () => {
    const doc = await expectJson<Doc>(await api("GET", "/openapi.json"), 200);
    const params = (doc.paths["/v1/quote"].get as { parameters: { name: string; required: boolean }[] }).parameters;
    const names = params.map((p) => p.name);
    expect(names).toEqual(expect.arrayContaining(["width", "height", "prompt", "seed", "switches.controlnet"]));
    expect(names).toContain("image.sha256");
    expect(params.filter((p) => p.required).map((p) => p.name)).toEqual(["width", "height"]);
  });
});

describe("the contract oracle", () => {
  const check = async (record: Record<string, unknown>) => {
    const res = await fetch(`${FAKE}/_contract/check`, {
      method: "POST",
      body: JSON.stringify({ doc: "public", record }),
    });
    return ((await res.json()) as { errors: string[] }).errors;
  };
  const quote = { price: 1, currency: "USD", unit: "microdollars", lines: [], phases: [1], cache: null };

  it("accepts what the document promises and names what it does not", async () => {
    const base = { method: "GET", path: "/v1/quote", status: 200, contentType: "application/json" };
    expect(await check({ ...base, body: JSON.stringify(quote) })).toEqual([]);
    expect((await check({ ...base, body: JSON.stringify({ ...quote, extra: 1 }) })).join()).toMatch(/additional/);
    expect((await check({ ...base, status: 418, body: "{}" })).join()).toMatch(/status 418 is not documented/);
    expect((await check({ ...base, contentType: "text/html", body: "" })).join()).toMatch(/text\/html/);
    expect((await check({ ...base, method: "PUT", body: "" })).join()).toMatch(/PUT \/v1\/quote is not documented/);
    // An unknown route or method may only be refused, as a problem.
    const problem = JSON.stringify({ type: "about:blank", title: "Not found", status: 404 });
    const refused = { ...base, method: "PUT", status: 404, contentType: "application/problem+json", body: problem };
    expect(await check(refused)).toEqual([]);
    expect((await check({ ...refused, body: "{}" })).join()).toMatch(/not a problem/);
  });

  it("checks stream events against the documented StreamEvent messages", async () => {
    const events = async (messages: { event: string; id: string; data: string }[]) => {
      const path = `/v1/images/${"a".repeat(64)}/events`;
      const res = await fetch(`${FAKE}/_contract/check`, {
        method: "POST",
        body: JSON.stringify({ doc: "public", events: { method: "GET", path, messages } }),
      });
      return ((await res.json()) as { errors: string[] }).errors;
    };
    const slim = { status: "running", percent: 5, phase: 1, step: 1, steps: 4, etaMs: null, queuePosition: null };
    expect(await events([{ event: "progress", id: "3", data: JSON.stringify(slim) }])).toEqual([]);
    expect(await events([{ event: "end", id: "9", data: '{"status":"succeeded"}' }])).toEqual([]);
    expect(await events([{ event: "progress", id: "3", data: JSON.stringify({ ...slim, extra: 1 }) }])).toHaveLength(1);
    expect(await events([{ event: "message", id: "3", data: '{"status":"running"}' }])).toHaveLength(1);
  });
});
