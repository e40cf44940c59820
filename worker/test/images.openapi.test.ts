/** GET /openapi.json: an OpenAPI 3.1 document generated from the same zod schemas the routes validate with. */
import { describe, expect, it } from "vitest";
import { api, expectJson } from "./jobsHelpers";

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
    expect(doc.components.schemas.RunnerEvent).toBeDefined();
    // Every $ref points at a component that exists.
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/(\w+)"/g)].map((m) => m[1]);
    for (const r of refs) expect(doc.components.schemas[r], r).toBeDefined();
  });
});
