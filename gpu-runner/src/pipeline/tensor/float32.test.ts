import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { float32Reciprocal } from "./float32";

const f = Math.fround;
const finite = fc.float({ noNaN: true, noDefaultInfinity: true });

describe("float32Reciprocal", () => {
  it("x * (1/d) rounds to float32(x / d) for any float32 x and d", () => {
    fc.assert(
      fc.property(finite, finite, (x, d) => {
        fc.pre(d !== 0);
        expect(Object.is(f(x * float32Reciprocal(d)), f(x / d))).toBe(true);
      }),
      { numRuns: 20000 },
    );
  });

  it("holds for the divisors the pipeline uses (small integers, model-input divisors, sigmas) and subnormal x", () => {
    const buf = new Float32Array(1);
    const bits = new Uint32Array(buf.buffer);
    let s = 99;
    const next = () => {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      return s >>> 0;
    };
    const divisors = [1, 2, 3, 5, 7, 9, 12, f(Math.sqrt(2)), f(14.6146), f(0.0292), f(1.0004)];
    for (let k = 0; k < 200_000; k++) {
      bits[0] = k % 4 === 0 ? next() & 0x807fffff : next();
      const x = buf[0];
      if (!Number.isFinite(x)) continue;
      const d = divisors[k % divisors.length];
      if (!Object.is(f(x * float32Reciprocal(d)), f(x / d))) throw new Error(`mismatch for ${x} / ${d}`);
    }
  });
});
