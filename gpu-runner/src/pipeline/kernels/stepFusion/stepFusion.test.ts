import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { addNoise } from "../../scheduler";
import { createAccumulator, finishMultiDiffusion } from "../multiDiffusion/reference";
import { PhaseMemory } from "../wasm/phaseMemory";
import { coveredJs, fuseBranches, skipResidualNoised } from "./js";
import { blendBranches, skipResidual } from "./reference";
import { coveredWasm, skipResidualNoisedWasm } from "./wasm";

const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const wave = (n: number, k: number) =>
  Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(i * 0.61 + k) * 1.7 + Math.cos(i * 0.13) * 0.4));

describe("skipResidualNoised", () => {
  it("equals skipResidual(latents, addNoise(up, noise, sigma), c1) bit for bit", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 15, noNaN: true }),
        fc.integer({ min: 0, max: 100 }),
        (n, c1, sigma, seed) => {
          const latents = wave(n, seed);
          const up = wave(n, seed + 1);
          const noise = wave(n, seed + 2);
          const want = skipResidual(latents, addNoise(up, noise, sigma), c1);
          skipResidualNoised(latents, { up, noise, sigma }, c1);
          expect(bytes(latents).equals(bytes(want))).toBe(true);
        },
      ),
    );
  });
});

describe("fuseBranches", () => {
  it("equals finishMultiDiffusion + blendBranches (both, local only, global only) bit for bit", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 40 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 15, noNaN: true }),
        fc.constantFrom("both", "local", "global"),
        fc.integer({ min: 0, max: 100 }),
        (planes, plane, c2, sigma, which, seed) => {
          const value = wave(planes * plane, seed);
          // Counts 0..3, so some positions take the fallback.
          const count = Float32Array.from({ length: plane }, (_, i) => (i * 7 + seed) % 4);
          const up = wave(planes * plane, seed + 1);
          const noise = wave(planes * plane, seed + 2);
          const global = wave(planes * plane, seed + 3);
          // Reference: the sums in a frame without padding, finished with the materialised fallback, then blended.
          const acc = createAccumulator(planes, 1, plane);
          acc.value.set(value);
          acc.count.set(count);
          const vl = new Float32Array(planes * plane);
          const cl = new Float32Array(plane);
          const uncovered = finishMultiDiffusion(acc, 0, 1, plane, addNoise(up, noise, sigma), vl, cl);
          const local = which === "global" ? null : { value: vl, count: cl };
          const g = which === "local" ? null : global;
          const want = blendBranches(local, g, c2, planes, plane, new Float32Array(planes * plane));
          const got = new Float32Array(planes * plane);
          const n = fuseBranches(
            which === "global" ? null : { value, count },
            { up, noise, sigma },
            g,
            c2,
            planes,
            plane,
            got,
          );
          expect(bytes(got).equals(bytes(want))).toBe(true);
          expect(n).toBe(which === "global" ? 0 : uncovered);
        },
      ),
    );
  });

  it("refuses an output that aliases an input (the uncovered pass rereads them)", () => {
    const a = Float32Array.of(1, 2);
    const local = { value: Float32Array.of(1, 2), count: Float32Array.of(0, 1) };
    expect(() => fuseBranches(local, { up: a, noise: a, sigma: 1 }, a, 0.5, 1, 2, a)).toThrow(RangeError);
  });

  it("needs a branch", () => {
    const z = new Float32Array(4);
    expect(() => fuseBranches(null, { up: z, noise: z, sigma: 1 }, null, 0.5, 1, 4, z)).toThrow(RangeError);
  });
});

describe("skipResidualNoised and fuseBranches in WebAssembly", () => {
  it("give the JS values bit for bit (any length, uncovered positions, both branches or local only)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 37 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 15, noNaN: true }),
        fc.boolean(),
        fc.integer({ min: 0, max: 100 }),
        (planes, plane, c, sigma, withGlobal, seed) => {
          const n = planes * plane;
          const mem = new PhaseMemory();
          const b = mem.allocate({ lat: n, up: n, noise: n, value: n, count: plane, global: n, out: n });
          b.lat.set(wave(n, seed));
          b.up.set(wave(n, seed + 1));
          b.noise.set(wave(n, seed + 2));
          b.value.set(wave(n, seed + 3));
          b.count.set(Float32Array.from({ length: plane }, (_, i) => (i * 5 + seed) % 4));
          b.global.set(wave(n, seed + 4));
          const js = Float32Array.from(b.lat);
          skipResidualNoised(js, { up: Float32Array.from(b.up), noise: Float32Array.from(b.noise), sigma }, c);
          const k = mem.kernels!;
          expect(skipResidualNoisedWasm(k, mem, b.lat, { up: b.up, noise: b.noise, sigma }, c)).toBe(true);
          expect(bytes(b.lat).equals(bytes(js))).toBe(true);

          const fb = { up: b.up, noise: b.noise, sigma };
          const g = withGlobal ? b.global : null;
          const want = new Float32Array(n);
          const local = { value: b.value, count: b.count };
          const u1 = fuseBranches(local, fb, g, c, planes, plane, want);
          let inWasm = false;
          const u2 = fuseBranches(local, fb, g, c, planes, plane, b.out, undefined, (input) => {
            const uncovered = coveredWasm(k, mem, input);
            inWasm = uncovered !== null;
            return uncovered ?? coveredJs(input);
          });
          expect(inWasm).toBe(true);
          expect(bytes(b.out).equals(bytes(want))).toBe(true);
          expect(u2).toBe(u1);
        },
      ),
    );
  });
});
