import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { assertLoopback, latencyStats, percentile, runLoad } from "./load";

describe("percentiles", () => {
  it("are nearest-rank", () => {
    const s = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(percentile(s, 50)).toBe(5);
    expect(percentile(s, 95)).toBe(10);
    expect(percentile(s, 0)).toBe(1);
    expect(percentile([], 50)).toBeNaN();
  });

  it("are members of the sample, ordered, between min and max", () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 1e4, noNaN: true }), { minLength: 1 }), (xs) => {
        const s = [...xs].sort((a, b) => a - b);
        const p50 = percentile(s, 50);
        const p95 = percentile(s, 95);
        expect(s).toContain(p50);
        expect(p50).toBeLessThanOrEqual(p95);
        const st = latencyStats(xs);
        expect(st.min).toBeLessThanOrEqual(st.p50);
        expect(st.p99).toBeLessThanOrEqual(st.max);
      }),
    );
  });
});

describe("assertLoopback", () => {
  it("accepts loopback addresses only", () => {
    for (const u of ["http://127.0.0.1:8787/x", "http://localhost:1", "http://[::1]:9/"])
      expect(() => assertLoopback(u)).not.toThrow();
    for (const u of ["http://10.0.0.1/", "https://example.com/", "http://127.0.0.2.nip.io/", "ftp://127.0.0.1/"]) {
      expect(() => assertLoopback(u)).toThrow(/loopback/);
    }
  });
});

describe("runLoad", () => {
  it("runs exactly `requests` operations with at most `concurrency` in flight", async () => {
    let inFlight = 0;
    let peak = 0;
    const seen: number[] = [];
    const r = await runLoad(
      async (i) => {
        seen.push(i);
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((res) => setTimeout(res, 1));
        inFlight--;
        return i % 10 === 0 ? 503 : 200;
      },
      { requests: 50, concurrency: 4, timeLimitMs: 10_000 },
    );
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(peak).toBe(4);
    expect(r.started).toBe(50);
    expect(r.statuses).toEqual({ 200: 45, 503: 5 });
    expect(r.errors).toBe(0);
    expect(r.timeLimited).toBe(false);
  });

  it("counts thrown operations as errors and stops starting requests after the time limit", async () => {
    let t = 0;
    const now = () => t;
    const r = await runLoad(
      async (i) => {
        t += 10; // each request takes 10 ms of the fake clock
        if (i === 1) throw new Error("refused");
        return 200;
      },
      { requests: 100, concurrency: 1, timeLimitMs: 50 },
      now,
    );
    expect(r.started).toBe(5);
    expect(r.errors).toBe(1);
    expect(r.errorSamples).toEqual(["refused"]);
    expect(r.statuses).toEqual({ 200: 4 });
    expect(r.timeLimited).toBe(true);
    expect(r.latencyMs.p50).toBe(10);
  });
});
