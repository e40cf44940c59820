import { describe, expect, it } from "vitest";
import { SDXL_SCHEDULER } from "../golden/testing/fakeModels";
import { abortError, ProgressTracker, throwIfAborted } from "./progress";
import { cfgGuidance, cfgModelInput, SigmaClock } from "./sampling";
import { eulerSchedule, modelInputDivisor } from "./scheduler";

describe("SigmaClock", () => {
  const schedule = eulerSchedule(SDXL_SCHEDULER, 4);

  it("scales step i with sigmas[i] by default", () => {
    const c = new SigmaClock(schedule, false);
    for (let i = 0; i < 4; i++) {
      expect(c.inputDivisor(i)).toBe(modelInputDivisor(schedule.sigmas[i]));
      expect(c.inputDivisor(i)).toBe(modelInputDivisor(schedule.sigmas[i])); // later batches too
    }
  });

  it("compat: phase 1 correct, then the first batch of the next phase unscaled and later batches one step ahead", () => {
    const c = new SigmaClock(schedule, true);
    const x = new Float32Array(1);
    for (let i = 0; i < 4; i++) {
      expect(c.inputDivisor(i)).toBe(modelInputDivisor(schedule.sigmas[i]));
      c.step(i, x, x, x, false);
    }
    // Upscaling phase, step 0, two batches.
    expect(c.inputDivisor(0)).toBe(1);
    c.step(0, x, x, x, true);
    expect(c.inputDivisor(0)).toBe(modelInputDivisor(schedule.sigmas[1]));
    c.step(0, x, x, x, true);
    // Step 1's first batch is correct again.
    expect(c.inputDivisor(1)).toBe(modelInputDivisor(schedule.sigmas[1]));
  });

  it("markPhaseCompleted puts a fresh compat clock where a finished phase leaves it", () => {
    const c = new SigmaClock(schedule, true);
    c.markPhaseCompleted();
    expect(c.inputDivisor(0)).toBe(1);
  });
});

describe("classifier-free guidance layout", () => {
  it("duplicates each sample for [uncond, text] and divides by the scale divisor", () => {
    const out = cfgModelInput(Float32Array.of(2, 4, 6, 8), 2, 2, 2, new Float32Array(8));
    expect(Array.from(out)).toEqual([1, 2, 1, 2, 3, 4, 3, 4]);
  });

  it("guides with uncond + s * (text - uncond) per sample", () => {
    const noise = Float32Array.of(1, 1, 3, 5, 0, 0, 1, 2);
    const out = cfgGuidance(noise, 2, 2, 2, new Float32Array(4));
    expect(Array.from(out)).toEqual([5, 9, 2, 4]);
  });
});

describe("progress and cancellation", () => {
  it("percent follows work and the ETA extrapolates elapsed time", () => {
    const events: { percent: number; etaMs: number | null }[] = [];
    let t = 0;
    const p = new ProgressTracker(
      100,
      (e) => events.push(e),
      () => t,
    );
    t = 10;
    p.step(1, 1, 2, 25);
    t = 30;
    p.step(1, 2, 2, 75);
    expect(events).toEqual([
      { phase: 1, step: 1, steps: 2, percent: 25, etaMs: 30 },
      { phase: 1, step: 2, steps: 2, percent: 100, etaMs: 0 },
    ]);
  });

  it("throws an AbortError whatever the abort reason", () => {
    const c = new AbortController();
    expect(() => throwIfAborted(c.signal)).not.toThrow();
    c.abort(new Error("shutdown"));
    expect(() => throwIfAborted(c.signal)).toThrow(expect.objectContaining({ name: "AbortError" }));
    expect(abortError().name).toBe("AbortError");
  });
});
