import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { SchedulerConfig } from "../models/types";
import {
  addNoise,
  eulerSchedule,
  eulerStep,
  eulerTimesteps,
  modelInputDivisor,
  modelInputSigma,
  modelInputSigmaIndex,
  predictOriginal,
  ReferenceStepIndex,
  scaleModelInput,
  schedulerConfigFromDiffusers,
  stepIndexOf,
  torchLinspaceF32,
  trainAlphasCumprod,
  trainSigmas,
} from "./scheduler";

const SDXL: SchedulerConfig = schedulerConfigFromDiffusers({
  num_train_timesteps: 1000,
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: "scaled_linear",
  timestep_spacing: "leading",
  steps_offset: 1,
  prediction_type: "epsilon",
});

const floats = (n: number) =>
  fc.float32Array({ minLength: n, maxLength: n, min: -4, max: 4, noNaN: true, noDefaultInfinity: true });

describe("training noise levels", () => {
  it("torchLinspaceF32 hits both float32 endpoints and stays within an ulp-scale of the exact line", () => {
    const a = Math.sqrt(0.00085);
    const b = Math.sqrt(0.012);
    const lin = torchLinspaceF32(a, b, 1000);
    expect(lin[0]).toBe(Math.fround(a));
    expect(lin[999]).toBe(Math.fround(b));
    for (let i = 1; i < 1000; i++) {
      expect(lin[i]).toBeGreaterThan(lin[i - 1]);
      expect(Math.abs(lin[i] - (a + ((b - a) * i) / 999))).toBeLessThan(2e-8);
    }
  });

  it("alphas_cumprod decreases inside (0, 1) and the SDXL sigma range is 0.0292..14.6146", () => {
    const ac = trainAlphasCumprod(SDXL);
    for (let i = 1; i < ac.length; i++) expect(ac[i]).toBeLessThan(ac[i - 1]);
    expect(ac[999]).toBeGreaterThan(0);
    const s = trainSigmas(SDXL);
    expect(s[0]).toBeCloseTo(0.0292, 4);
    expect(s[999]).toBeCloseTo(14.6146, 3);
  });
});

describe("eulerSchedule", () => {
  it("leading spacing: timesteps (n-1-k)*floor(1000/n)+1, sigmas descending to a trailing 0", () => {
    for (const n of [1, 8, 30, 50, 77]) {
      const { timesteps, sigmas, initNoiseSigma } = eulerSchedule(SDXL, n);
      const ratio = Math.floor(1000 / n);
      expect(Array.from(timesteps)).toEqual(Array.from({ length: n }, (_, k) => (n - 1 - k) * ratio + 1));
      expect(sigmas.length).toBe(n + 1);
      expect(sigmas[n]).toBe(0);
      for (let k = 1; k <= n; k++) expect(sigmas[k]).toBeLessThan(sigmas[k - 1]);
      // integer timesteps read the training sigma table directly
      const train = trainSigmas(SDXL);
      for (let k = 0; k < n; k++) expect(sigmas[k]).toBe(train[timesteps[k]]);
      expect(initNoiseSigma).toBe(Math.fround(Math.sqrt(Math.fround(sigmas[0] * sigmas[0]) + 1)));
    }
  });

  it("trailing and linspace spacings follow numpy", () => {
    const trailing = eulerTimesteps({ ...SDXL, timestepSpacing: "trailing" }, 50);
    expect(trailing[0]).toBe(999);
    expect(trailing[49]).toBe(19);
    const lin = eulerTimesteps({ ...SDXL, timestepSpacing: "linspace" }, 4);
    expect(Array.from(lin)).toEqual([999, 666, 333, 0]);
    const s = eulerSchedule({ ...SDXL, timestepSpacing: "linspace" }, 4);
    expect(s.initNoiseSigma).toBe(s.sigmas[0]); // not sqrt(max^2+1) for linspace
    const train = trainSigmas(SDXL);
    expect(s.sigmas[0]).toBe(train[999]);
  });

  it("non-integer linspace timesteps interpolate linearly between training sigmas", () => {
    const s = eulerSchedule({ ...SDXL, timestepSpacing: "linspace" }, 7); // 999, 832.5, ...
    const train = trainSigmas(SDXL);
    const t = s.timesteps[1];
    expect(t % 1).not.toBe(0);
    const j = Math.floor(t);
    const want = Math.fround(train[j] + (train[j + 1] - train[j]) * (t - j));
    expect(s.sigmas[1]).toBe(want);
  });

  it("rejects configs it does not implement", () => {
    const base = { num_train_timesteps: 1000, beta_start: 0.1, beta_end: 0.2, beta_schedule: "scaled_linear" };
    expect(() => schedulerConfigFromDiffusers({ ...base, beta_schedule: "squaredcos_cap_v2" })).toThrow();
    expect(() => schedulerConfigFromDiffusers({ ...base, prediction_type: "v_prediction" })).toThrow();
    expect(() => schedulerConfigFromDiffusers({ ...base, use_karras_sigmas: true })).toThrow();
    expect(schedulerConfigFromDiffusers(base).timestepSpacing).toBe("linspace");
    expect(() => eulerTimesteps(SDXL, 0)).toThrow();
  });
});

describe("per-element updates", () => {
  it("scaleModelInput divides by (sigma^2+1)^0.5 and may run in place", () => {
    fc.assert(
      fc.property(floats(17), fc.float({ min: 0, max: 20, noNaN: true }), (x, sigma) => {
        const d = modelInputDivisor(sigma);
        const y = scaleModelInput(x, sigma);
        for (let i = 0; i < x.length; i++) expect(y[i]).toBe(Math.fround(x[i] / d));
        const inPlace = Float32Array.from(x);
        scaleModelInput(inPlace, sigma, inPlace);
        expect(inPlace).toEqual(y);
      }),
    );
    expect(modelInputDivisor(0)).toBe(1);
  });

  it("an Euler step to sigma 0 lands on the predicted original sample; noising then denoising round-trips", () => {
    fc.assert(
      fc.property(floats(32), floats(32), fc.float({ min: Math.fround(0.03), max: 15, noNaN: true }), (x0, eps, s) => {
        const noisy = addNoise(x0, eps, s);
        const x0Hat = predictOriginal(eps, noisy, s);
        const back = eulerStep(eps, noisy, s, 0);
        for (let i = 0; i < x0.length; i++) {
          expect(Math.abs(back[i] - x0Hat[i])).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(noisy[i])));
          expect(Math.abs(back[i] - x0[i])).toBeLessThanOrEqual(1e-5 * (1 + s * 4));
        }
      }),
    );
  });

  it("eulerStep moves along eps by (sigmaNext - sigma) and supports out aliasing sample", () => {
    fc.assert(
      fc.property(floats(16), floats(16), (x, eps) => {
        const out = Float32Array.from(x);
        eulerStep(eps, out, 4, 3, out);
        const fresh = eulerStep(eps, x, 4, 3);
        expect(out).toEqual(fresh);
        for (let i = 0; i < x.length; i++) expect(fresh[i]).toBeCloseTo(x[i] - eps[i], 4);
      }),
    );
  });
});

describe("step index", () => {
  it("stepIndexOf finds a timestep, takes the second of duplicates, and rejects unknown ones", () => {
    const ts = Float32Array.from([981, 961, 961, 1]);
    expect(stepIndexOf(ts, 981)).toBe(0);
    expect(stepIndexOf(ts, 961)).toBe(2);
    expect(() => stepIndexOf(ts, 5)).toThrow();
  });

  it("default mode uses sigmas[i] for every model input", () => {
    const s = eulerSchedule(SDXL, 10);
    for (let i = 0; i < 10; i++) {
      expect(modelInputSigmaIndex(s, i)).toBe(i);
      expect(modelInputSigma(s, i, null)).toBe(s.sigmas[i]);
    }
  });

  it("reference mode reproduces the diffusers 0.21.4 quirk after a completed phase", () => {
    const n = 6;
    const s = eulerSchedule(SDXL, n);
    const ref = new ReferenceStepIndex(s.timesteps);
    expect(ref.current).toBeNull();
    for (let i = 0; i < n; i++) {
      expect(modelInputSigmaIndex(s, i, ref)).toBe(i); // a plain phase is correct
      expect(ref.stepSigmaIndex(s.timesteps[i])).toBe(i);
      ref.afterStep();
    }
    expect(ref.current).toBe(n);
    // Upscaling phase with 3 batches per step.
    for (let i = 0; i < n; i++) {
      const t = s.timesteps[i];
      for (let b = 0; b < 3; b++) {
        const want = b > 0 ? i + 1 : i === 0 ? n : i;
        expect(modelInputSigmaIndex(s, i, ref)).toBe(want);
        ref.initStepIndex(t);
        expect(ref.stepSigmaIndex(t)).toBe(i);
        ref.afterStep();
      }
    }
    expect(modelInputSigma(s, 0, ref)).toBe(0); // sigmas[n]: the first batch of the next phase is not scaled
    expect(() => new ReferenceStepIndex(s.timesteps).afterStep()).toThrow();
  });
});
