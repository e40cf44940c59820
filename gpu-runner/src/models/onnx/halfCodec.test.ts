/** The WebAssembly half conversions against halfFloat/js.ts, bit for bit. */
import { describe, expect, it } from "vitest";
import { fromHalfArray, toHalfArray } from "../../pipeline/kernels/halfFloat/js";
import { fromHalf, HalfScratch, halfCodec, toHalf } from "./halfCodec";

const u32 = (f: Float32Array) => new Uint32Array(f.buffer, f.byteOffset, f.length);

/** float32 values around every half's rounding boundary: the midpoint to the next half and one ulp either side. */
function boundaries(): Float32Array {
  const all = fromHalfArray(Uint16Array.from({ length: 0x10000 }, (_, h) => h));
  const out = new Float32Array(0x10000 * 4);
  const bits = u32(out);
  for (let h = 0; h < 0x10000; h++) {
    const mid = (all[h] + all[(h + 1) & 0xffff]) / 2; // exact in float64, then rounded to float32 by the store
    out[4 * h] = all[h];
    out[4 * h + 1] = mid;
    bits[4 * h + 2] = u32(Float32Array.of(mid))[0] + 1;
    bits[4 * h + 3] = u32(Float32Array.of(mid))[0] - 1;
  }
  return out;
}

describe("halfCodec (WebAssembly SIMD)", () => {
  it("runs in WebAssembly here", () => {
    expect(halfCodec.wasm).toBe(true);
  });

  it("narrows like toHalfArray: rounding boundaries, specials, random bit patterns, odd lengths", () => {
    const specials = Float32Array.of(
      0,
      -0,
      Infinity,
      -Infinity,
      Number.NaN,
      65504,
      65520,
      -65520,
      1e-8,
      -6e-8,
      2 ** -24,
      2 ** -25,
    );
    let seed = 12345;
    const random = new Float32Array(1_000_003);
    const rb = u32(random);
    for (let i = 0; i < rb.length; i++) {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      rb[i] = seed;
    }
    for (const src of [boundaries(), specials, random, random.subarray(5, 5 + 13)]) {
      expect(Buffer.from(toHalf(src).buffer).equals(Buffer.from(toHalfArray(src).buffer))).toBe(true);
    }
  });

  it("widens every half exactly like fromHalfArray (NaNs as NaNs)", () => {
    const all = Uint16Array.from({ length: 0x10000 * 2 + 5 }, (_, i) => i & 0xffff);
    const a = fromHalf(all);
    const b = fromHalfArray(all);
    const ab = u32(a);
    const bb = u32(b);
    const wrong: number[] = [];
    for (let i = 0; i < all.length; i++) {
      const ok = Number.isNaN(b[i]) ? Number.isNaN(a[i]) : ab[i] === bb[i];
      if (!ok) wrong.push(all[i]);
    }
    expect(wrong).toEqual([]);
  });

  it("converts in place in a scratch, one user at a time", () => {
    const scratch = new HalfScratch();
    const src = boundaries().subarray(0, 100_001);
    const slot = scratch.acquire(src.length)!;
    expect(scratch.acquire(4)).toBeNull();
    slot.floats.set(src);
    scratch.narrow(src.length);
    expect(Buffer.from(slot.halves.slice().buffer).equals(Buffer.from(toHalfArray(src).buffer))).toBe(true);
    scratch.widen(src.length);
    expect(Buffer.from(slot.floats.slice().buffer).equals(Buffer.from(fromHalfArray(toHalfArray(src)).buffer))).toBe(
      true,
    );
    scratch.release();
    // Growing after release keeps working (views are remade).
    const big = scratch.acquire(3_000_000)!;
    expect(big.halves.length).toBe(3_000_000);
    scratch.release();
  });
});
