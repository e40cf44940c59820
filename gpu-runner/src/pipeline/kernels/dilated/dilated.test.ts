import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cfgGuidance, cfgModelInput } from "../../sampling";
import { eulerStep } from "../../scheduler";
import { meanStd } from "../../tensor/stats";
import { gaussianFilter } from "../gaussian/js";
import { int32View, PhaseMemory } from "../wasm/phaseMemory";
import { dilatedModelInput, scatterGuided } from "./js";
import {
  cropTopLeft,
  dilatedOffsets,
  gatherDilated,
  invertShuffleIndex,
  prepareDilatedInputs,
  randomShuffleIndex,
  scatterDilated,
  shuffleSamples,
  unshuffleSamples,
} from "./reference";
import { dilatedModelInputWasm, scatterGuidedWasm } from "./wasm";

const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const wave = (n: number, k: number) =>
  Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(i * 0.61 + k) * 1.7 + Math.cos(i * 0.13) * 0.4));

function lcg(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return a / 4294967296;
  };
}

const caseArb = fc.record({
  planes: fc.integer({ min: 1, max: 4 }),
  s: fc.integer({ min: 1, max: 4 }),
  H: fc.integer({ min: 1, max: 11 }),
  W: fc.integer({ min: 1, max: 11 }),
  gaussian: fc.boolean(),
  shuffle: fc.boolean(),
  batchStart: fc.nat(),
  batchLen: fc.integer({ min: 1, max: 16 }),
  divisor: fc.double({ min: 1, max: 15, noNaN: true }),
  scale: fc.double({ min: 0, max: 12, noNaN: true }),
  sigma: fc.double({ min: 0.03, max: 15, noNaN: true }),
  frac: fc.double({ min: 0, max: 1, noNaN: true }),
  seed: fc.integer({ min: 0, max: 1000 }),
});

describe("dilatedModelInput and scatterGuided", () => {
  it("equal the op-by-op reference (gather, renormalise, shuffle, CFG; guide, unshuffle, step, scatter, crop)", () => {
    fc.assert(
      fc.property(caseArb, (r) => {
        const latents = wave(r.planes * r.H * r.W, r.seed);
        const d = prepareDilatedInputs(latents, r.planes, r.H, r.W, r.s, r.gaussian ? 0.7 : null);
        const all = dilatedOffsets(r.s);
        const j = r.batchStart % all.length;
        const batch = all.slice(j, j + r.batchLen);
        const B = batch.length;
        const grid = { planes: r.planes, paddedH: d.paddedH, paddedW: d.paddedW, scale: r.s };
        const per = (r.planes * d.paddedH * d.paddedW) / (r.s * r.s);
        const idx = r.shuffle ? randomShuffleIndex(B, per, lcg(r.seed)) : null;

        // Model input.
        const X = gatherDilated(d.padded, r.planes, d.paddedH, d.paddedW, r.s, batch);
        let G = gatherDilated(d.filtered, r.planes, d.paddedH, d.paddedW, r.s, batch);
        if (idx) G = shuffleSamples(G, idx, B, per);
        const wantIn = cfgModelInput(G, B, per, r.divisor, new Float32Array(2 * B * per));
        // The kernel renormalises the raw blur itself: give it the blur and the statistics prepareDilatedInputs used.
        let g = d.padded;
        let renorm = null;
        if (r.gaussian) {
          const raw = prepareDilatedInputs(latents, r.planes, r.H, r.W, r.s, null).padded;
          g = gaussianFilter(raw, r.planes, d.paddedH, d.paddedW, 2 * r.s - 1, 0.7);
          const b = meanStd(g);
          renorm = { mean: b.mean, std: b.std, targetMean: d.paddedMean, targetStd: d.paddedStd };
        }
        const gotIn = new Float32Array(2 * B * per);
        dilatedModelInput(g, grid, batch, renorm, idx, r.divisor, gotIn);
        expect(bytes(gotIn).equals(bytes(wantIn))).toBe(true);

        // Step and scatter.
        const noise = wave(2 * B * per, r.seed + 5);
        let eps = cfgGuidance(noise, B, per, r.scale, new Float32Array(B * per));
        if (idx) eps = unshuffleSamples(eps, invertShuffleIndex(idx, B, per), B, per);
        const sigmaNext = r.sigma * r.frac;
        const denoised = eulerStep(eps, X, r.sigma, sigmaNext);
        const value = new Float32Array(r.planes * d.paddedH * d.paddedW);
        scatterDilated(value, r.planes, d.paddedH, d.paddedW, r.s, batch, denoised);
        const want = cropTopLeft(value, r.planes, d.paddedH, d.paddedW, d.hPad, d.wPad);
        // Positions of other batches' offsets stay 0 in both.
        const got = new Float32Array(r.planes * r.H * r.W);
        const step = { guidanceScale: r.scale, sigma: r.sigma, sigmaNext };
        scatterGuided(d.padded, grid, batch, noise, idx, step, d.hPad, d.wPad, got);
        expect(bytes(got).equals(bytes(want))).toBe(true);
      }),
    );
  });
});

describe("the dilated kernels in WebAssembly", () => {
  it("give the JS values bit for bit (padding, window interaction, renormalisation, partial batches)", () => {
    fc.assert(
      fc.property(caseArb, (r) => {
        const latents = wave(r.planes * r.H * r.W, r.seed);
        const d = prepareDilatedInputs(latents, r.planes, r.H, r.W, r.s, null);
        const all = dilatedOffsets(r.s);
        const j = r.batchStart % all.length;
        const batch = all.slice(j, j + r.batchLen);
        const B = batch.length;
        const grid = { planes: r.planes, paddedH: d.paddedH, paddedW: d.paddedW, scale: r.s };
        const n = r.planes * d.paddedH * d.paddedW;
        const per = n / (r.s * r.s);
        const idx = r.shuffle ? randomShuffleIndex(B, per, lcg(r.seed)) : null;
        const g = r.gaussian ? gaussianFilter(d.padded, r.planes, d.paddedH, d.paddedW, 2 * r.s - 1, 0.7) : d.padded;
        const renorm = r.gaussian ? { mean: 0.01, std: 0.9, targetMean: -0.02, targetStd: 1.1 } : null;
        const noise = wave(2 * B * per, r.seed + 5);
        const step = { guidanceScale: r.scale, sigma: r.sigma, sigmaNext: r.sigma * r.frac };

        const wantIn = new Float32Array(2 * B * per);
        dilatedModelInput(g, grid, batch, renorm, idx, Math.fround(r.divisor), wantIn);
        const wantOut = new Float32Array(r.planes * r.H * r.W).fill(3);
        scatterGuided(d.padded, grid, batch, noise, idx, step, d.hPad, d.wPad, wantOut);

        const mem = new PhaseMemory();
        const m = mem.allocate({
          L: n,
          G: n,
          input: 2 * B * per,
          noise: 2 * B * per,
          shuffle: B * per,
          table: 2 * B,
          out: r.planes * r.H * r.W,
        });
        m.L.set(d.padded);
        m.G.set(g);
        m.noise.set(noise);
        const shuffle = idx ? int32View(m.shuffle) : null;
        if (shuffle && idx) shuffle.set(idx);
        m.out.fill(3);
        const k = mem.kernels!;
        const table = int32View(m.table);
        const dv = Math.fround(r.divisor);
        expect(dilatedModelInputWasm(k, mem, table, m.G, grid, batch, renorm, shuffle, dv, m.input)).toBe(true);
        expect(scatterGuidedWasm(k, mem, table, m.L, grid, batch, m.noise, shuffle, step, d.hPad, d.wPad, m.out)).toBe(
          true,
        );
        expect(bytes(m.input).equals(bytes(wantIn))).toBe(true);
        expect(bytes(m.out).equals(bytes(wantOut))).toBe(true);
      }),
    );
  });
});

it("scatterGuided turns a -0 step into +0 like the reference's scatter into zeros", () => {
  const grid = { planes: 1, paddedH: 1, paddedW: 1, scale: 1 };
  const out = new Float32Array(1);
  scatterGuided(
    Float32Array.of(-0),
    grid,
    [[0, 0]],
    Float32Array.of(0, 0),
    null,
    { guidanceScale: 1, sigma: 1, sigmaNext: 0.5 },
    0,
    0,
    out,
  );
  expect(Object.is(out[0], 0)).toBe(true);
});
