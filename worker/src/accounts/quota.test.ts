import { describe, expect, it } from "vitest";
import { parseQuota, secondsUntilNextUtcDay, utcDay } from "./quota";

describe("quota days", () => {
  it("are UTC days with a Retry-After to the next midnight", () => {
    const t = Date.parse("2026-03-04T23:59:30.500Z");
    expect(utcDay(t)).toBe("2026-03-04");
    expect(secondsUntilNextUtcDay(t)).toBe(30);
    expect(secondsUntilNextUtcDay(Date.parse("2026-03-05T00:00:00Z"))).toBe(86_400);
    expect(parseQuota("100")).toBe(100);
    expect(parseQuota("0")).toBeNull();
    expect(parseQuota(undefined)).toBeNull();
    expect(parseQuota("1.5")).toBeNull();
  });
});
