import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cosineFactors, powF32 } from "./cosine";

const timestep = fc.integer({ min: 0, max: 1000 });
const scale = fc.constantFrom(0.5, 1, 1.5, 2, 3);

describe("cosineFactors", () => {
  it("is 1 at t = 1000, 0.5 at t = 500 and ~0 at t = 0", () => {
    expect(cosineFactors(1000, 3, 1, 1).cf).toBe(1);
    expect(cosineFactors(500, 3, 1, 1).cf).toBeCloseTo(0.5, 6);
    expect(cosineFactors(0, 3, 1, 1).cf).toBeCloseTo(0, 6);
  });

  it("returns float32 values matching the closed form, with c1..c3 derived from cf", () => {
    fc.assert(
      fc.property(timestep, scale, scale, scale, (t, s1, s2, s3) => {
        const { cf, c1, c2, c3 } = cosineFactors(t, s1, s2, s3);
        for (const v of [cf, c1, c2, c3]) expect(Math.fround(v)).toBe(v);
        expect(cf).toBeCloseTo(0.5 * (1 + Math.cos((Math.PI * (1000 - t)) / 1000)), 6);
        expect(c1).toBeCloseTo(cf ** s1, 6);
        expect(c2).toBeCloseTo(cf ** s2, 6);
        expect(c3).toBeCloseTo(0.99 * cf ** s3 + 0.01, 6);
        expect(c3).toBeGreaterThanOrEqual(Math.fround(0.01));
        expect(c3).toBeLessThanOrEqual(1);
      }),
    );
  });

  it("decreases as the timestep decreases (later steps rely less on the global branch)", () => {
    fc.assert(
      fc.property(timestep, timestep, (a, b) => {
        fc.pre(a < b);
        expect(cosineFactors(a, 3, 1, 1).cf).toBeLessThanOrEqual(cosineFactors(b, 3, 1, 1).cf);
      }),
    );
  });

  it("honours a different training horizon", () => {
    expect(cosineFactors(250, 1, 1, 1, 500).cf).toBeCloseTo(0.5, 6);
  });
});

describe("powF32", () => {
  it("uses exact products for the exponents torch special-cases", () => {
    fc.assert(
      fc.property(fc.float({ min: 0, max: 1, noNaN: true }), (x) => {
        expect(powF32(x, 0)).toBe(1);
        expect(powF32(x, 1)).toBe(x);
        expect(powF32(x, 2)).toBe(Math.fround(x * x));
        expect(powF32(x, 3)).toBe(Math.fround(Math.fround(x * x) * x));
        expect(powF32(x, 0.5)).toBe(Math.fround(Math.sqrt(x)));
        expect(powF32(x, 1.5)).toBeCloseTo(x ** 1.5, 6);
      }),
    );
  });
});
