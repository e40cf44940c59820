/** The committed generated types are what `npm run sdk` makes from the current document (run it after API changes). */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { generateSchema, SCHEMA_FILE } from "../scripts/generate";
import { applyProgress, type Job } from "./accdiff";

describe("@accdiff/client", () => {
  it("schema.d.ts is up to date with the worker's public OpenAPI document (npm run sdk)", async () => {
    expect(readFileSync(SCHEMA_FILE, "utf8") === (await generateSchema())).toBe(true);
  }, 30_000);

  it("applies a progress event to the last job view", () => {
    const job = {
      status: "queued",
      queuePosition: 2,
      progress: { phase: null, step: null, steps: null, percent: 0, etaMs: null, phasesDone: [] },
    } as unknown as Job;
    const next = applyProgress(job, {
      status: "running",
      percent: 30,
      phase: 2,
      step: 3,
      steps: 10,
      etaMs: 5000,
      queuePosition: null,
    });
    expect(next.status).toBe("running");
    expect(next.queuePosition).toBeNull();
    expect(next.progress).toEqual({ phase: 2, step: 3, steps: 10, percent: 30, etaMs: 5000, phasesDone: [] });
  });
});
