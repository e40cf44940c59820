import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cfgGuidance, cfgModelInput } from "../../sampling";
import { eulerStep } from "../../scheduler";
import { padPlanes } from "../../tensor/pad";
import { PhaseMemory } from "../wasm/phaseMemory";
import { accumulateGuided, viewModelInput } from "./js";
import { accumulateView, createAccumulator, gatherViews } from "./reference";
import type { ViewBox } from "./viewBox";
import { accumulateGuidedWasm, viewModelInputWasm } from "./wasm";

const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const wave = (n: number, k: number) =>
  Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(i * 0.61 + k) * 1.7 + Math.cos(i * 0.13) * 0.4));

/** A batch of same-size views in the frame padded by jr; a window larger than the frame starts at 0 and is clipped. */
const batchArb = fc
  .record({
    planes: fc.integer({ min: 1, max: 4 }),
    H: fc.integer({ min: 1, max: 9 }),
    W: fc.integer({ min: 1, max: 9 }),
    jr: fc.integer({ min: 0, max: 3 }),
    wh: fc.integer({ min: 1, max: 14 }),
    ww: fc.integer({ min: 1, max: 14 }),
    starts: fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 1, maxLength: 5 }),
    seed: fc.integer({ min: 0, max: 1000 }),
  })
  .map((r) => {
    const PH = r.H + 2 * r.jr;
    const PW = r.W + 2 * r.jr;
    const views: ViewBox[] = r.starts.map(([a, b]) => {
      const h0 = r.wh > PH ? 0 : a % (PH - r.wh + 1);
      const w0 = r.ww > PW ? 0 : b % (PW - r.ww + 1);
      return [h0, h0 + r.wh, w0, w0 + r.ww];
    });
    return { ...r, PH, PW, views };
  });

describe("viewModelInput", () => {
  it("equals pad + gatherViews + cfgModelInput bit for bit", () => {
    fc.assert(
      fc.property(batchArb, fc.double({ min: 1, max: 15, noNaN: true }), (r, divisor) => {
        const latents = wave(r.planes * r.H * r.W, r.seed);
        const padded = padPlanes(latents, r.planes, r.H, r.W, { top: r.jr, bottom: r.jr, left: r.jr, right: r.jr });
        const X = gatherViews(padded, r.planes, r.PH, r.PW, r.views);
        const per = r.planes * X.h * X.w;
        const want = cfgModelInput(X.data, r.views.length, per, divisor, new Float32Array(2 * r.views.length * per));
        const got = new Float32Array(2 * r.views.length * per + 3).fill(Number.NaN);
        const frame = { latents, planes: r.planes, height: r.H, width: r.W, jr: r.jr };
        expect(viewModelInput(frame, r.views, divisor, got)).toEqual({ vh: X.h, vw: X.w });
        expect(bytes(got.subarray(0, want.length)).equals(bytes(want))).toBe(true);
      }),
    );
  });

  it("rejects a batch whose views clip to different sizes (torch.cat would)", () => {
    const frame = { latents: new Float32Array(16), planes: 1, height: 4, width: 4, jr: 1 };
    expect(() =>
      viewModelInput(
        frame,
        [
          [0, 4, 0, 4],
          [3, 7, 0, 4],
        ],
        1,
        new Float32Array(64),
      ),
    ).toThrow(RangeError);
  });
});

describe("accumulateGuided", () => {
  it("equals cfgGuidance + eulerStep + accumulateView, cropped to the latent, bit for bit", () => {
    fc.assert(
      fc.property(
        batchArb,
        fc.double({ min: 0, max: 12, noNaN: true }),
        fc.double({ min: 0.03, max: 15, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (r, scale, sigma, frac) => {
          const sigmaNext = sigma * frac;
          const latents = wave(r.planes * r.H * r.W, r.seed);
          const padded = padPlanes(latents, r.planes, r.H, r.W, { top: r.jr, bottom: r.jr, left: r.jr, right: r.jr });
          const X = gatherViews(padded, r.planes, r.PH, r.PW, r.views);
          const vb = r.views.length;
          const per = r.planes * X.h * X.w;
          const noise = wave(2 * vb * per, r.seed + 7);
          // Reference: op by op in the padded frame, then cropped.
          const guided = cfgGuidance(noise, vb, per, scale, new Float32Array(vb * per));
          const denoised = eulerStep(guided, X.data, sigma, sigmaNext);
          const acc = createAccumulator(r.planes, r.PH, r.PW);
          // Start from non-zero sums (a previous batch of the same step).
          const prior = wave(r.planes * r.H * r.W, r.seed + 3);
          const priorCount = Float32Array.from({ length: r.H * r.W }, (_, i) => i % 3);
          for (let p = 0; p < r.planes; p++)
            for (let y = 0; y < r.H; y++)
              for (let x = 0; x < r.W; x++) {
                acc.value[(p * r.PH + y + r.jr) * r.PW + x + r.jr] = prior[(p * r.H + y) * r.W + x];
                if (p === 0) acc.count[(y + r.jr) * r.PW + x + r.jr] = priorCount[y * r.W + x];
              }
          for (let b = 0; b < vb; b++) accumulateView(acc, r.views[b], denoised.subarray(b * per, (b + 1) * per));
          const wantValue = new Float32Array(r.planes * r.H * r.W);
          const wantCount = new Float32Array(r.H * r.W);
          for (let p = 0; p < r.planes; p++)
            for (let y = 0; y < r.H; y++)
              for (let x = 0; x < r.W; x++) {
                wantValue[(p * r.H + y) * r.W + x] = acc.value[(p * r.PH + y + r.jr) * r.PW + x + r.jr];
                if (p === 0) wantCount[y * r.W + x] = acc.count[(y + r.jr) * r.PW + x + r.jr];
              }
          const sums = { value: Float32Array.from(prior), count: Float32Array.from(priorCount) };
          const frame = { latents, planes: r.planes, height: r.H, width: r.W, jr: r.jr };
          accumulateGuided(frame, r.views, noise, { guidanceScale: scale, sigma, sigmaNext }, sums);
          expect(bytes(sums.value).equals(bytes(wantValue))).toBe(true);
          expect(Array.from(sums.count)).toEqual(Array.from(wantCount));
          // Without countViews the counts stay as they were (fixed windows are counted once).
          const again = { value: Float32Array.from(prior), count: Float32Array.from(priorCount) };
          accumulateGuided(frame, r.views, noise, { guidanceScale: scale, sigma, sigmaNext }, again, false);
          expect(bytes(again.value).equals(bytes(wantValue))).toBe(true);
          expect(Array.from(again.count)).toEqual(Array.from(priorCount));
        },
      ),
    );
  });
});

describe("the MultiDiffusion kernels in WebAssembly", () => {
  it("are available here and give the JS kernels' values bit for bit (rows of any length, clipped views)", () => {
    expect(new PhaseMemory().kernels).not.toBeNull();
    fc.assert(
      fc.property(
        batchArb,
        fc.double({ min: 0, max: 12, noNaN: true }),
        fc.double({ min: 0.03, max: 15, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 1, max: 15, noNaN: true }),
        (r, scale, sigma, frac, divisor) => {
          const step = { guidanceScale: scale, sigma, sigmaNext: sigma * frac };
          const latents = wave(r.planes * r.H * r.W, r.seed);
          const frame = { latents, planes: r.planes, height: r.H, width: r.W, jr: r.jr };
          const d = Math.fround(divisor);
          const batchLen = 2 * r.views.length * r.planes * 14 * 14;
          const jsIn = new Float32Array(batchLen).fill(7);
          const { vh, vw } = viewModelInput(frame, r.views, d, jsIn);
          const noise = wave(2 * r.views.length * r.planes * vh * vw, r.seed + 7);
          const prior = wave(r.planes * r.H * r.W, r.seed + 3);
          const js = { value: Float32Array.from(prior), count: new Float32Array(r.H * r.W) };
          accumulateGuided(frame, r.views, noise, step, js);

          const mem = new PhaseMemory();
          const buf = mem.allocate({
            latents: latents.length,
            value: latents.length,
            noise: noise.length,
            input: batchLen,
          });
          buf.latents.set(latents);
          buf.value.set(prior);
          buf.noise.set(noise);
          buf.input.fill(7);
          const wasmFrame = { ...frame, latents: buf.latents };
          const k = mem.kernels!;
          expect(viewModelInputWasm(k, mem, wasmFrame, r.views, d, buf.input)).toEqual({ vh, vw });
          expect(bytes(buf.input).equals(bytes(jsIn))).toBe(true);
          const sums = { value: buf.value, count: new Float32Array(r.H * r.W) };
          expect(accumulateGuidedWasm(k, mem, wasmFrame, r.views, buf.noise, step, sums, true)).toBe(true);
          expect(bytes(sums.value).equals(bytes(js.value))).toBe(true);
          expect(Array.from(sums.count)).toEqual(Array.from(js.count));
        },
      ),
    );
  });
});
