import { quote, type RunnerEvent, renderPhases, resolveRequest } from "@accdiff/shared";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { JobState } from "../domain/job";
import { applyEvent, cancelByUser, type Effect, partialPrice, retryOrFail, type VerifiedArtifact } from "./transitions";

const BASE = 64;

function job(cachedAtStart: number[] = []): JobState {
  const params = resolveRequest(
    { prompt: "a cat", width: 256, height: 256, seed: 1 },
    { baseResolution: BASE, maxSide: 512, hardMaxSide: 8192, maxAspect: 4, maxPromptChars: 1000, attentionDivisor: 32 },
  );
  const q = quote(renderPhases(params, BASE), cachedAtStart);
  return {
    id: "a".repeat(64),
    version: 1,
    accountId: "acc",
    keyId: "k",
    idempotencyKey: null,
    requestHash: "h",
    createdAt: 0,
    updatedAt: 0,
    finishedAt: null,
    base: "http://w",
    backend: "runner",
    params,
    bundleId: "b",
    baseResolution: BASE,
    scales: [1, 2, 3, 4],
    cacheKeys: { phase1: "p1", phases: { "2": "k2", "3": "k3", "4": "k4" } },
    cache: { phase1: "miss", phases: [], computed: [1, 2, 3, 4], patchPromptsRecomputed: false },
    cachedAtStart,
    quote: q,
    billing: { state: "reserved", reserved: q.price, charged: 0 },
    billingPending: false,
    status: "queued",
    attempt: 1,
    dispatch: { target: "http://runner", tries: 0, lastError: null },
    alarm: "lease",
    seq: { attempt: 1, next: 0, pending: {} },
    progress: null,
    artifacts: [],
    phasesDone: [...cachedAtStart],
    cacheWritten: [],
    warnings: [],
    error: null,
    result: null,
    webhookIds: [],
    logLength: 0,
  };
}

const base = { jobId: "a".repeat(64), attempt: 1, seq: 0, at: "2026-01-01T00:00:00.000Z" };

function artifact(kind: VerifiedArtifact["kind"], phase?: number): { e: RunnerEvent; v: VerifiedArtifact } {
  const e = {
    ...base,
    type: "artifact" as const,
    kind,
    phase,
    key: `${kind}/x.png`,
    contentType: "image/png",
    bytes: 10,
    sha256: "0".repeat(64),
  };
  return { e, v: { ...e, r2Key: `jobs/x/1/${kind}/x.png` } };
}

function imageOf(s: JobState, phase: number): Effect[] {
  const { e, v } = phase === 1 ? artifact("lowres_image", 1) : artifact("phase_image", phase);
  return applyEvent(s, e, 1, { maxAttempts: 4, artifact: v });
}

const completed: RunnerEvent = {
  ...base,
  type: "completed",
  width: 256,
  height: 256,
  phasesComputed: [1, 2, 3, 4],
  modelEvaluations: {},
  timingsMs: {},
  warnings: [],
};

const billing = (effects: Effect[]) => effects.filter((e) => e.type === "capture" || e.type === "release");

describe("transitions", () => {
  it("completion captures the quote once; later events change nothing", () => {
    const s = job();
    for (const k of [1, 2, 3, 4]) imageOf(s, k);
    const { e, v } = artifact("final_image");
    applyEvent(s, e, 1, { maxAttempts: 4, artifact: v });
    const effects = applyEvent(s, completed, 2, { maxAttempts: 4 });
    expect(billing(effects)).toEqual([{ type: "capture", amount: s.quote.price }]);
    expect(s.status).toBe("succeeded");
    expect(applyEvent(s, completed, 3, { maxAttempts: 4 })).toEqual([]);
    expect(cancelByUser(s, 4)).toEqual([]);
    expect(s.billing).toEqual({ state: "captured", reserved: s.quote.price, charged: s.quote.price });
  });

  it("a completion without a final image is a failure, released", () => {
    const s = job();
    const effects = applyEvent(s, completed, 1, { maxAttempts: 4 });
    expect(s.status).toBe("failed");
    expect(billing(effects)).toEqual([{ type: "release" }]);
  });

  it("a cancel pays for the completed phases only, and nothing when none was computed", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3 }), fc.subarray([1, 2]), (done, cached) => {
        const s = job(cached);
        for (let k = 1; k <= done; k++) if (!cached.includes(k)) imageOf(s, k);
        const computed = s.phasesDone.filter((p) => !cached.includes(p));
        const effects = cancelByUser(s, 1);
        expect(s.status).toBe("cancelled");
        const amount = partialPrice(s);
        if (computed.length === 0) expect(billing(effects)).toEqual([{ type: "release" }]);
        else {
          expect(billing(effects)).toEqual([{ type: "capture", amount }]);
          expect(amount).toBe(quote(renderPhases(s.params, BASE), cached, s.phasesDone).price);
        }
        expect(amount).toBeLessThanOrEqual(s.billing.reserved);
        expect(effects).toContainEqual({ type: "cancelRemote", target: "http://runner", attempt: 1 });
      }),
    );
  });

  it("a cancel the user did not ask for (the runner's own) re-dispatches; it never ends the job", () => {
    const s = job();
    imageOf(s, 1);
    const effects = applyEvent(s, { ...base, type: "cancelled", phasesCompleted: [1] }, 1, { maxAttempts: 4 });
    expect(s).toMatchObject({ status: "queued", attempt: 2, billing: { state: "reserved" } });
    expect(effects).toContainEqual({ type: "redispatch" });
    expect(billing(effects)).toEqual([]);
    expect(s.warnings.join(" ")).toContain("without the user asking");
  });

  it("retryable failures and lease expiries start the next attempt, until the attempts are used up", () => {
    const s = job();
    for (let a = 1; a < 4; a++) {
      const effects = retryOrFail(s, "silent", 1, 4);
      expect(effects).toContainEqual({ type: "redispatch" });
      expect(s.attempt).toBe(a + 1);
      expect(s.seq).toEqual({ attempt: a + 1, next: 0, pending: {} });
      expect(s.status).toBe("queued");
    }
    const last = retryOrFail(s, "silent", 2, 4);
    expect(s.status).toBe("failed");
    expect(billing(last)).toEqual([{ type: "release" }]);
    expect(s.error?.reason).toContain("gave up after 4 attempts");
    // A runner that went silent every time: the job view says runner_lost, the text stays internal.
    expect(s.error?.code).toBe("runner_lost");
  });

  it("names a stable failure code: the runner's, else one read from its text", () => {
    const s1 = job();
    applyEvent(s1, { ...base, type: "failed", reason: "x", retryable: false, code: "unsupported_size" }, 1, {
      maxAttempts: 4,
    });
    expect(s1.error).toEqual({ reason: "x", retryable: false, code: "unsupported_size" });
    const s2 = job();
    const oldRunner = "unet/model.onnx: attention_probs has shape [2, 160, 77], contract says [2, 176, 77]";
    applyEvent(s2, { ...base, type: "failed", reason: oldRunner, retryable: false }, 1, { maxAttempts: 4 });
    expect(s2.error?.code).toBe("model_error");
    const s3 = job();
    for (let a = 1; a <= 4; a++) {
      applyEvent(
        s3,
        { ...base, attempt: a, type: "failed", reason: "CUDA out of memory", retryable: true, code: "out_of_memory" },
        1,
        { maxAttempts: 4 },
      );
    }
    expect(s3.status).toBe("failed");
    expect(s3.error?.code).toBe("out_of_memory");
  });

  it("never charges more than the reservation, nor settles twice, over random event histories", () => {
    const kinds = fc.constantFrom("image", "completed", "failed-final", "failed-retry", "cancel", "progress");
    fc.assert(
      fc.property(fc.array(fc.tuple(kinds, fc.integer({ min: 1, max: 4 })), { maxLength: 30 }), (history) => {
        const s = job();
        const settlements: Effect[] = [];
        for (const [what, phase] of history) {
          let effects: Effect[] = [];
          if (what === "image") effects = imageOf(s, phase);
          else if (what === "completed") effects = applyEvent(s, completed, 1, { maxAttempts: 4 });
          else if (what === "failed-final")
            effects = applyEvent(s, { ...base, type: "failed", reason: "x", retryable: false }, 1, { maxAttempts: 4 });
          else if (what === "failed-retry")
            effects = applyEvent(s, { ...base, type: "failed", reason: "x", retryable: true }, 1, { maxAttempts: 4 });
          else if (what === "cancel") effects = cancelByUser(s, 1);
          else
            effects = applyEvent(s, { ...base, type: "progress", phase, step: 1, steps: 2, percent: 50 }, 1, {
              maxAttempts: 4,
            });
          settlements.push(...billing(effects));
        }
        expect(settlements.length).toBeLessThanOrEqual(1);
        for (const e of settlements) if (e.type === "capture") expect(e.amount).toBeLessThanOrEqual(s.billing.reserved);
        if (settlements.length === 1) expect(["succeeded", "failed", "cancelled"]).toContain(s.status);
      }),
    );
  });

  it("asks for the cache records of each phase once its pieces are in", () => {
    const s = job();
    const writes: Effect[] = [];
    for (const [kind, phase] of [
      ["lowres_latents", 1],
      ["attention_maps", undefined],
      ["tokens", undefined],
      ["lowres_image", 1],
      ["phase_image", 2],
      ["phase_latents", 2],
      ["patch_prompts", 2],
    ] as const) {
      const { e, v } = artifact(kind, phase);
      writes.push(...applyEvent(s, e, 1, { maxAttempts: 4, artifact: v }).filter((x) => x.type === "writeCache"));
    }
    // Patch prompts go into their phase's record (no record of their own: nothing would read it).
    expect(writes.map((w) => (w.type === "writeCache" ? `phase ${w.phase}` : w.type))).toEqual(["phase 1", "phase 2"]);
  });

  it("from an image, phase 1 is done with its refinement, which gets a record of its own", () => {
    const s = job();
    s.params = { ...s.params, width: 128, height: 128, image: { sha256: "c".repeat(64), width: 64, height: 64 } };
    s.scales = [1, 2];
    s.cacheKeys = { phase1: "p1", phases: { "1": "k1", "2": "k2" } };
    const writes: string[] = [];
    const done: number[][] = [];
    for (const [kind, phase] of [
      ["lowres_latents", 1],
      ["attention_maps", undefined],
      ["tokens", undefined],
      ["lowres_image", 1],
      ["phase_image", 1],
      ["phase_latents", 1],
    ] as const) {
      const { e, v } = artifact(kind, phase);
      for (const x of applyEvent(s, e, 1, { maxAttempts: 4, artifact: v })) {
        if (x.type === "writeCache") writes.push(`${x.refinement ? "refinement" : "phase"} ${x.phase}`);
      }
      done.push([...s.phasesDone]);
    }
    expect(writes).toEqual(["phase 1", "refinement 1"]);
    // The encoded image alone does not finish phase 1; the refinement's image does.
    expect(done).toEqual([[], [], [], [], [1], [1]]);
  });

  it("records an artifact whose upload did not verify as a warning, not a file", () => {
    const s = job();
    const { e } = artifact("final_image");
    applyEvent(s, e, 1, { maxAttempts: 4, artifact: null });
    expect(s.artifacts).toHaveLength(0);
    expect(s.warnings[0]).toContain("upload is missing");
  });
});
