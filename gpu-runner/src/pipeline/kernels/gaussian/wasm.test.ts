import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PhaseMemory } from "../wasm/phaseMemory";
import { gaussianFilter, gaussianKernel1d } from "./js";
import { gaussianFilterWasm, gaussianScratch } from "./wasm";

const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe("gaussian (WebAssembly)", () => {
  it("equals the JS filter bit for bit (odd and even widths, kernels longer than the plane)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 13 }),
        fc.integer({ min: 1, max: 13 }),
        fc.constantFrom(1, 3, 5, 7, 9, 11),
        fc.double({ min: 0.05, max: 3, noNaN: true }),
        fc.nat(),
        (planes, h, w, k, sigma, seed) => {
          const n = planes * h * w;
          const src = Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(seed + i * 1.37) * 2));
          const want = gaussianFilter(src, planes, h, w, k, sigma);
          const mem = new PhaseMemory();
          const m = mem.allocate({ src: n, dst: n, scratch: 2 * gaussianScratch(k, w) });
          m.src.set(src);
          const taps = new Float64Array(m.scratch.buffer, m.scratch.byteOffset, k);
          taps.set(gaussianKernel1d(k, sigma));
          mem.kernels!.gaussian(m.src.byteOffset, m.dst.byteOffset, planes, h, w, k, m.scratch.byteOffset);
          expect(bytes(m.dst).equals(bytes(want))).toBe(true);
          // Through the wrapper, which writes the taps itself.
          m.dst.fill(0);
          expect(gaussianFilterWasm(mem.kernels!, mem, m.scratch, m.src, planes, h, w, k, sigma, m.dst)).toBe(m.dst);
          expect(bytes(m.dst).equals(bytes(want))).toBe(true);
        },
      ),
    );
  });
});
