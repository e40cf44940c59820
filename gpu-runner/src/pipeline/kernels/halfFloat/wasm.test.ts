/** The half conversions in the phase memory (wasm.ts) against js.ts, bit for bit, and their fallbacks. */
import { describe, expect, it } from "vitest";
import { PhaseMemory, uint16View } from "../wasm/phaseMemory";
import { wasmStepKernels } from "../wasmStepKernels";
import { fromHalfArray, toHalfArray } from "./js";
import { fromHalfWasm, toHalfWasm } from "./wasm";

const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** Every half, the midpoints between neighbours and one float32 ulp either side, specials, random bit patterns. */
function values(): Float32Array {
  const all = fromHalfArray(Uint16Array.from({ length: 0x10000 }, (_, h) => h));
  const out = new Float32Array(0x10000 * 4 + 1000);
  const bits = new Uint32Array(out.buffer);
  for (let h = 0; h < 0x10000; h++) {
    const mid = Math.fround((all[h] + all[(h + 1) & 0xffff]) / 2);
    const midBits = new Uint32Array(Float32Array.of(mid).buffer)[0];
    out[4 * h] = all[h];
    out[4 * h + 1] = mid;
    bits[4 * h + 2] = midBits + 1;
    bits[4 * h + 3] = midBits - 1;
  }
  let seed = 7;
  for (let i = 0x10000 * 4; i < out.length; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    bits[i] = seed;
  }
  return out;
}

describe("halfFloat (WebAssembly, in the phase memory)", () => {
  const src = values();
  const n = src.length;
  const mem = new PhaseMemory();
  const m = mem.allocate({ floats: n, halves: Math.ceil(n / 2), back: n });
  m.floats.set(src);
  const halves = uint16View(m.halves).subarray(0, n);
  const k = mem.kernels!;

  it("narrows like toHalfArray and widens like fromHalfArray, at every length and offset", () => {
    const want = toHalfArray(src);
    for (const [a, b] of [
      [0, n],
      [3, 3 + 13], // a misaligned start, a tail of 5
      [8, 8 + 7], // shorter than one block
      [1, n - 1],
    ]) {
      halves.fill(0xffff);
      expect(toHalfWasm(k, mem, m.floats.subarray(a, b), halves.subarray(a, b))).toBe(true);
      expect(bytes(halves.subarray(a, b)).equals(bytes(want.subarray(a, b)))).toBe(true);
      m.back.fill(0);
      expect(fromHalfWasm(k, mem, halves.subarray(a, b), m.back.subarray(a, b))).toBe(true);
      const back = fromHalfArray(want.subarray(a, b));
      // NaNs compare by bits too: both forms widen the quiet NaN 0x7e00 the same way.
      expect(bytes(m.back.subarray(a, b)).equals(bytes(back))).toBe(true);
    }
  });

  it("declines arrays outside the memory; the step kernels then run js.ts", () => {
    const outside = new Uint16Array(16);
    expect(toHalfWasm(k, mem, m.floats.subarray(0, 16), outside)).toBe(false);
    expect(fromHalfWasm(k, mem, outside, new Float32Array(16))).toBe(false);
    const kernels = wasmStepKernels(k, mem);
    kernels.toHalf(src.subarray(0, 16), outside);
    expect(bytes(outside).equals(bytes(toHalfArray(src.subarray(0, 16))))).toBe(true);
    expect(() => kernels.toHalf(src.subarray(0, 16), new Uint16Array(15))).toThrow(RangeError);
  });
});
