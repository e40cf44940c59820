import { describe, expect, it } from "vitest";
import { Mismatch } from "./compare";
import { replayRandInt } from "./replay";

describe("replayRandInt", () => {
  it("returns the recorded values in order when asked for the recorded bounds", () => {
    const r = replayRandInt([
      [-4.0, 0, -1],
      ["-4.0", "4.0", "3"],
    ]);
    expect(r(-4, 0)).toBe(-1);
    expect(r(-4, 4)).toBe(3);
    expect(() => r.assertConsumed()).not.toThrow();
  });

  it("throws a Mismatch on different bounds, extra calls, or unconsumed draws", () => {
    expect(() => replayRandInt([[-2, 0, -1]])(-2, 2)).toThrow(Mismatch);
    const r = replayRandInt([[0, 2, 1]]);
    expect(() => r.assertConsumed()).toThrow(Mismatch);
    r(0, 2);
    expect(() => r(0, 2)).toThrow(Mismatch);
  });
});
