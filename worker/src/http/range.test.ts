import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseRange } from "./range";

describe("parseRange", () => {
  it("reads single ranges, suffixes and open ends", () => {
    expect(parseRange(null, 100)).toEqual({ kind: "none" });
    expect(parseRange("bytes=0-9", 100)).toEqual({ kind: "range", offset: 0, length: 10 });
    expect(parseRange("bytes=90-", 100)).toEqual({ kind: "range", offset: 90, length: 10 });
    expect(parseRange("bytes=-5", 100)).toEqual({ kind: "range", offset: 95, length: 5 });
    expect(parseRange("bytes=-500", 100)).toEqual({ kind: "range", offset: 0, length: 100 });
    expect(parseRange("bytes=50-5000", 100)).toEqual({ kind: "range", offset: 50, length: 50 });
  });

  it("answers unsatisfiable and ignores what it does not serve", () => {
    expect(parseRange("bytes=100-", 100)).toEqual({ kind: "unsatisfiable" });
    expect(parseRange("bytes=-0", 100)).toEqual({ kind: "unsatisfiable" });
    expect(parseRange("bytes=0-1,5-6", 100)).toEqual({ kind: "none" });
    expect(parseRange("items=0-1", 100)).toEqual({ kind: "none" });
    expect(parseRange("bytes=9-3", 100)).toEqual({ kind: "none" });
  });

  it("always stays inside the blob", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.string(),
        fc.nat(20_000),
        fc.nat(20_000),
        (size, _s, a, b) => {
          for (const h of [`bytes=${a}-${b}`, `bytes=${a}-`, `bytes=-${b}`]) {
            const r = parseRange(h, size);
            if (r.kind === "range") {
              expect(r.offset).toBeGreaterThanOrEqual(0);
              expect(r.length).toBeGreaterThan(0);
              expect(r.offset + r.length).toBeLessThanOrEqual(size);
            }
          }
        },
      ),
    );
  });
});
