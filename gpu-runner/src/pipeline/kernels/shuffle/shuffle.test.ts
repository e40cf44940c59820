import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RandomSource } from "../../randomness";
import { int32View, PhaseMemory, uint32View } from "../wasm/phaseMemory";
import { wasmStepKernels } from "../wasmStepKernels";
import { shuffleIndexFromWords } from "./js";
import { shuffleFromWordsWasm } from "./wasm";

describe("shuffleFromWords (WebAssembly)", () => {
  it("builds exactly shuffleIndexFromWords' indices, extreme words included", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 17 }), fc.integer({ min: 1, max: 50 }), fc.nat(), (B, n, seed) => {
        const mem = new PhaseMemory();
        const m = mem.allocate({ words: Math.max(1, (B - 1) * n), idx: B * n, perm: B });
        const words = uint32View(m.words);
        let a = seed >>> 0;
        for (let k = 0; k < words.length; k++) {
          a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
          words[k] = k % 5 === 0 ? 0xffffffff : k % 7 === 0 ? 0 : a;
        }
        const idx = int32View(m.idx);
        expect(shuffleFromWordsWasm(mem.kernels!, mem, int32View(m.perm), B, n, words, idx)).toBe(idx);
        expect(Array.from(idx)).toEqual(Array.from(shuffleIndexFromWords(B, n, words.subarray(0, (B - 1) * n))));
      }),
    );
  });

  it("RandomSource.shuffleIndex gives the same indices with and without a phase-memory scratch", () => {
    const B = 9;
    const n = 333;
    const mem = new PhaseMemory();
    const m = mem.allocate({ words: (B - 1) * n, out: B * n, perm: B });
    const kernels = wasmStepKernels(mem.kernels!, mem, { perm: int32View(m.perm) });
    const scratch = { kernels, words: uint32View(m.words) };
    const a = new RandomSource(5);
    const b = new RandomSource(5);
    for (let batch = 0; batch < 3; batch++) {
      const plain = a.shuffleIndex(2, 0, batch, B, n, new Int32Array(B * n));
      const fast = b.shuffleIndex(2, 0, batch, B, n, int32View(m.out), scratch);
      expect(Array.from(fast)).toEqual(Array.from(plain));
    }
  });
});
