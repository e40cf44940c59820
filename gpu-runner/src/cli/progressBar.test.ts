import { describe, expect, it } from "vitest";
import { formatDuration, formatProgress, progressReporter } from "./progressBar";

const ev = (phase: number, step: number, percent: number, etaMs: number | null = 5000) => ({
  phase,
  step,
  steps: 10,
  percent,
  etaMs,
});

describe("progress bar", () => {
  it("formats phase, step, bar, percent and ETA", () => {
    expect(formatProgress(ev(2, 3, 50, 65_000), 3, 10)).toBe("phase 2/3 step 3/10 [#####-----]  50.0%  ETA 1:05");
    expect(formatDuration(null)).toBe("--:--");
    expect(formatDuration(3_723_000)).toBe("1:02:03");
  });

  it("writes plain lines when not a terminal: phase starts and every 10%", () => {
    const lines: string[] = [];
    const r = progressReporter({ write: (s) => lines.push(s), isTTY: false }, 2);
    for (let s = 1; s <= 10; s++) r.update(ev(1, s, s * 2));
    for (let s = 1; s <= 10; s++) r.update(ev(2, s, 20 + s * 8));
    r.done();
    expect(lines.every((l) => l.endsWith("\n") && !l.includes("\r"))).toBe(true);
    expect(lines[0]).toMatch(/^phase 1\/2 step 1\/10/);
    expect(lines.filter((l) => l.startsWith("phase 2/2")).length).toBeGreaterThan(3);
    expect(lines.length).toBeLessThan(20);
  });

  it("redraws in place on a terminal, throttled, and ends with a newline", () => {
    const out: string[] = [];
    let t = 0;
    const r = progressReporter({ write: (s) => out.push(s), isTTY: true }, 1, () => t);
    for (let s = 1; s <= 10; s++) {
      t += 30;
      r.update(ev(1, s, s * 10));
    }
    r.done();
    expect(out.slice(0, -1).every((s) => s.startsWith("\r"))).toBe(true);
    expect(out.length).toBeLessThan(10);
    expect(out.at(-2)).toContain("100.0%");
    expect(out.at(-1)).toBe("\n");
  });
});
