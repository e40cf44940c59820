import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { blendBranches, skipResidual } from "./reference";
import { branchWeights } from "./weights";

const ramp = (n: number, k = 1) => Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(i * 0.7 + k) * 2));

describe("skipResidual", () => {
  it("interpolates between the latent (c1=0) and the noised previous phase (c1=1)", () => {
    const a = ramp(20, 1);
    const b = ramp(20, 2);
    expect(Array.from(skipResidual(a, b, 0))).toEqual(Array.from(a));
    expect(Array.from(skipResidual(a, b, 1))).toEqual(Array.from(b));
    const mid = skipResidual(a, b, 0.25);
    for (let i = 0; i < 20; i++) expect(mid[i]).toBeCloseTo(0.75 * a[i] + 0.25 * b[i], 6);
  });

  it("may write in place", () => {
    const a = ramp(8, 1);
    const b = ramp(8, 3);
    const expected = skipResidual(a, b, 0.3);
    skipResidual(a, b, 0.3, a);
    expect(Array.from(a)).toEqual(Array.from(expected));
  });
});

describe("blendBranches", () => {
  it("weights the local average by 1-c2 and the global branch by c2", () => {
    fc.assert(
      fc.property(fc.float({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 1, max: 4 }), (c2, cnt) => {
        const planes = 2;
        const plane = 5;
        const vl = ramp(planes * plane, 1).map((v) => v * cnt);
        const cl = new Float32Array(plane).fill(cnt);
        const vg = ramp(planes * plane, 5);
        const out = blendBranches({ value: vl, count: cl }, vg, c2, planes, plane, new Float32Array(planes * plane));
        const w = branchWeights(c2);
        for (let k = 0; k < planes * plane; k++) {
          expect(out[k]).toBeCloseTo(((vl[k] / cnt) * (1 - c2) + vg[k] * c2) / w.total, 5);
        }
      }),
    );
  });

  it("is a fixed point when both branches agree", () => {
    const v = ramp(12);
    const out = blendBranches({ value: v, count: new Float32Array(12).fill(1) }, v, 0.37, 1, 12, new Float32Array(12));
    for (let i = 0; i < 12; i++) expect(out[i]).toBeCloseTo(v[i], 6);
  });

  it("passes the global branch through when it is the only one", () => {
    const g = ramp(6);
    expect(Array.from(blendBranches(null, g, 0.5, 1, 6, new Float32Array(6)))).toEqual(Array.from(g));
    expect(() => blendBranches(null, null, 0.5, 1, 6, new Float32Array(6))).toThrow(RangeError);
  });

  it("keeps the reference's float32 count total (1-c2)+c2", () => {
    expect(branchWeights(0.204394).total).toBe(
      Math.fround(Math.fround(1 - Math.fround(0.204394)) + Math.fround(0.204394)),
    );
  });
});
