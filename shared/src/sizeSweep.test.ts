import { describe, expect, it } from "vitest";
import { DEFAULT_LIMITS, makeGenerationRequestSchema, sizeIssues } from "./request";
import { limitsForBase, SWEEP_RATIOS, sweepLongSides, sweepSizes } from "./sizeSweep";

describe("the size rule and the sweep drawn from it", () => {
  it("the request schema accepts exactly the sizes sizeIssues accepts", () => {
    for (const limits of [DEFAULT_LIMITS, limitsForBase(128), limitsForBase(512)]) {
      const schema = makeGenerationRequestSchema(limits);
      const b = limits.baseResolution;
      for (let w = b / 8 - 8; w <= limits.maxSide + 16; w += Math.max(4, b / 16)) {
        for (const h of [1, 8, b / 4 - 8, b / 4, b / 2 + 4, b, b + 8, limits.maxSide, limits.maxSide + 8]) {
          const ok = schema.safeParse({ prompt: "x", width: w, height: h }).success;
          expect(ok, `${w}x${h} at base ${b}`).toBe(sizeIssues(w, h, limits).length === 0);
        }
      }
    }
  });

  it("draws every size from the API's domain, spanning it", () => {
    for (const base of [128, 512, 1024]) {
      const limits = limitsForBase(base);
      const grid = [...sweepSizes(limits, 3, 0), ...sweepSizes(limits, 2, 1)];
      for (const s of grid) expect(sizeIssues(s.width, s.height, limits)).toEqual([]);
      const longs = sweepLongSides(limits);
      expect(longs[0]).toBe(base);
      expect(longs[longs.length - 1]).toBe(limits.maxSide);
      // Odd latent sides (odd multiples of 8, like 1000, 1288, 1352 px) and non-integer scales are in it.
      expect(grid.some((s) => (s.width / 8) % 2 === 1 && (s.height / 8) % 2 === 1)).toBe(true);
      expect(longs.some((l) => l % base !== 0)).toBe(true);
      const ratios = new Set(grid.map((s) => s.ratio));
      for (const r of ["1:1", "3:2", "2:3", "4:3", "3:4", "16:9", "9:16", "4:1", "1:4"]) expect(ratios).toContain(r);
      // The sides just outside the rule are refused: the sweep's domain is the API's.
      expect(sizeIssues(base - 8, base - 8, limits)).not.toEqual([]);
      expect(sizeIssues(limits.maxSide + 8, limits.maxSide, limits)).not.toEqual([]);
      expect(sizeIssues(base * 4, base - 8, limits)).not.toEqual([]);
      expect(sizeIssues(base + 4, base, limits)).not.toEqual([]);
    }
    expect(SWEEP_RATIOS.some(([a, b]) => a / b === DEFAULT_LIMITS.maxAspect)).toBe(true);
  });

  it("scales the limits with the base like SDXL's 1024 -> 4096", () => {
    expect(limitsForBase(128)).toMatchObject({ baseResolution: 128, maxSide: 512, maxAspect: 4 });
    expect(limitsForBase(1024)).toEqual(DEFAULT_LIMITS);
  });
});
