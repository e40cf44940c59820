import { describe, expect, it } from "vitest";
import { isTerminal, RunnerEventSchema, RunnerJobSchema } from "./protocol";
import { resolveRequest } from "./request";

const base = { jobId: "job_12345678", attempt: 1, seq: 0, at: "2026-11-25T12:00:00.000Z" };
const key = "a".repeat(64);

describe("runner protocol", () => {
  it("accepts a well-formed job and rejects unknown fields", () => {
    const job = {
      jobId: "job_12345678",
      attempt: 1,
      bundleId: "sdxl-1.0",
      params: resolveRequest({ prompt: "a cat", width: 2048, height: 2048, seed: 1 }),
      callbackUrl: "https://api.example/internal/jobs/job_12345678/events",
      uploadUrl: "https://api.example/internal/jobs/job_12345678/artifacts",
      cacheKeys: { phase1: key, phases: { "2": key } },
    };
    expect(RunnerJobSchema.safeParse(job).success).toBe(true);
    expect(RunnerJobSchema.safeParse({ ...job, extra: 1 }).success).toBe(false);
    expect(RunnerJobSchema.safeParse({ ...job, jobId: "../etc" }).success).toBe(false);
    expect(RunnerJobSchema.safeParse({ ...job, callbackUrl: "not a url" }).success).toBe(false);
    expect(RunnerJobSchema.safeParse({ ...job, params: { ...job.params, width: "x" } }).success).toBe(false);
  });

  it("parses each event type and knows which are terminal", () => {
    const events = [
      { ...base, type: "accepted", queuePosition: 0 },
      { ...base, type: "progress", phase: 2, step: 3, steps: 50, percent: 40.5, etaMs: 1000 },
      {
        ...base,
        type: "artifact",
        kind: "final_image",
        key: "final_image/out.png",
        contentType: "image/png",
        bytes: 10,
        sha256: key,
        width: 8,
        height: 8,
      },
      {
        ...base,
        type: "completed",
        width: 2048,
        height: 2048,
        phasesComputed: [1, 2],
        modelEvaluations: {},
        timingsMs: { total: 5 },
        warnings: [],
      },
      { ...base, type: "failed", reason: "runner shutting down", retryable: true },
      { ...base, type: "cancelled", phasesCompleted: [1] },
    ];
    const parsed = events.map((e) => RunnerEventSchema.parse(e));
    expect(parsed.map(isTerminal)).toEqual([false, false, false, true, true, true]);
  });

  it("rejects malformed events", () => {
    expect(RunnerEventSchema.safeParse({ ...base, type: "exploded" }).success).toBe(false);
    expect(
      RunnerEventSchema.safeParse({ ...base, type: "progress", phase: 1, step: 0, steps: 50, percent: 101 }).success,
    ).toBe(false);
    expect(RunnerEventSchema.safeParse({ ...base, seq: -1, type: "accepted", queuePosition: 0 }).success).toBe(false);
    expect(
      RunnerEventSchema.safeParse({
        ...base,
        type: "artifact",
        kind: "secrets",
        key: "k",
        contentType: "x",
        bytes: 1,
        sha256: key,
      }).success,
    ).toBe(false);
  });
});
