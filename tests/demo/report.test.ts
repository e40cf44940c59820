import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { windowBoxes } from "./explain";
import { escapeHtml, renderHtml } from "./html";
import { progressLine } from "./progress";
import { type DemoSummary, evaluationsOf, zeroEvaluations } from "./summary";

describe("evaluationsOf", () => {
  it("keeps each phase's counts and sums them, reading missing or odd fields as zero", () => {
    const e = evaluationsOf({
      "1": { unetCalls: 4, unetSamples: 8, textEncodings: 2, vaeCalls: 1 },
      "2": { unetCalls: 8, unetSamples: 104, controlnetCalls: 4, controlnetSamples: 72, vaeCalls: "x" },
    });
    expect(e.byPhase["1"]).toEqual({
      ...zeroEvaluations(),
      unetCalls: 4,
      unetSamples: 8,
      textEncodings: 2,
      vaeCalls: 1,
    });
    expect(e.total).toEqual({
      unetCalls: 12,
      unetSamples: 112,
      controlnetCalls: 4,
      controlnetSamples: 72,
      textEncodings: 2,
      vaeCalls: 1,
    });
    expect(evaluationsOf(null)).toEqual({ total: zeroEvaluations(), byPhase: {} });
  });
});

describe("windowBoxes", () => {
  it("maps padded latent views to image pixels", () => {
    // A 64x64 latent frame padded by 8: the view [8, 72, 8, 72] is the whole 512x512 image.
    expect(windowBoxes([[8, 72, 8, 72]], ["cat lawn"], 8, 8, 512, 512)).toEqual([
      { top: 0, bottom: 512, left: 0, right: 512, prompt: "cat lawn" },
    ]);
  });

  it("keeps every box inside the image", () => {
    const view = fc.tuple(fc.nat(200), fc.nat(200), fc.nat(200), fc.nat(200));
    fc.assert(
      fc.property(fc.array(view, { maxLength: 10 }), fc.nat(16), (views, pad) => {
        for (const b of windowBoxes(views, [], pad, 8, 640, 512)) {
          expect(b.top).toBeGreaterThanOrEqual(0);
          expect(b.bottom).toBeLessThanOrEqual(512);
          expect(b.left).toBeGreaterThanOrEqual(0);
          expect(b.right).toBeLessThanOrEqual(640);
          expect(b.prompt).toBe("");
        }
      }),
    );
  });
});

describe("html", () => {
  it("escapes every character that could open markup", () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        expect(escapeHtml(s)).not.toMatch(/[<>"']/);
        expect(escapeHtml(s).replace(/&#\d+;/g, "")).not.toContain("&");
      }),
    );
  });

  it("renders a hostile prompt as text", () => {
    const summary: DemoSummary = {
      createdAt: "2026-01-01T00:00:00.000Z",
      prompt: '<script>alert("x")</script>',
      seed: 1,
      steps: 2,
      bundle: { name: "toy-world", version: "1", hash: "sha256:00", baseResolution: 512 },
      accountId: "a",
      renders: [],
      runner: { url: "http://127.0.0.1:1", jobsAccepted: [] },
      ledger: { balance: 0, reserved: 0, credited: 0, charged: 0, entries: [] },
      timingsMs: { startup: 1000, renders: 2000 },
    };
    const html = renderHtml(summary, { phases: [], final: null, attention: [], patches: [] });
    expect(html).not.toContain("<script>");
    expect(html).toContain("&#60;script&#62;");
  });
});

describe("progressLine", () => {
  const base = { request: { width: 2048, height: 1024 }, phases: [1, 2, 3, 4] } as const;
  it("names the phase, its size, the step and the overall percent", () => {
    const line = progressLine({
      ...base,
      status: "running",
      progress: { phase: 3, step: 7, steps: 15, percent: 41.6, etaMs: 12_300, phasesDone: [1, 2] },
    } as unknown as Parameters<typeof progressLine>[0]);
    expect(line).toBe("running: phase 3/4 (1536x768) step 7/15, 42% overall, about 13 s left");
  });
  it("says only the status before the first step", () => {
    const line = progressLine({
      ...base,
      status: "queued",
      progress: { phase: null, step: null, steps: null, percent: 0, etaMs: null, phasesDone: [] },
    } as unknown as Parameters<typeof progressLine>[0]);
    expect(line).toBe("queued");
  });
});
