import { describe, expect, it } from "vitest";
import { PRICE_TABLE, quote } from "./prices";
import { renderPhases, resolveRequest } from "./request";

const r = renderPhases(resolveRequest({ prompt: "a cat", width: 4096, height: 4096, seed: 1 }), 1024);

describe("quote", () => {
  it("prices every computed phase per megapixel, in integer microdollars", () => {
    const q = quote(r, []);
    expect(q.lines.map((l) => l.phase)).toEqual([1, 2, 3, 4]);
    const expected = [1024, 2048, 3072, 4096].reduce(
      (a, s) => a + Math.ceil(((s * s) / 1e6) * PRICE_TABLE.perMegapixelComputed),
      0,
    );
    expect(q.price).toBe(expected);
    expect(Number.isInteger(q.price)).toBe(true);
  });

  it("cached phases cost the cache price, a fully cached render at least the minimum", () => {
    const full = quote(r, []).price;
    const partial = quote(r, [1, 2]).price;
    const cached = quote(r, [1, 2, 3, 4]).price;
    expect(partial).toBeLessThan(full);
    expect(cached).toBeLessThan(partial);
    expect(cached).toBeGreaterThanOrEqual(PRICE_TABLE.minimum);
  });

  it("a cancel pays only for the completed phases", () => {
    const some = quote(r, [], [1, 2]);
    expect(some.lines.map((l) => l.phase)).toEqual([1, 2]);
    expect(quote(r, [], []).price).toBe(0);
  });
});
