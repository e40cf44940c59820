import { DEFAULT_LIMITS, resolveRequest } from "@accdiff/shared";
import { describe, expect, it } from "vitest";
import { renderKeys } from "./keys";

const limits = { ...DEFAULT_LIMITS, baseResolution: 512, maxSide: 4096 };
const req = (side: number, extra: Record<string, unknown> = {}) =>
  resolveRequest(
    { prompt: "a cat and a dog are playing on the lawn", width: side, height: side, seed: 7, ...extra },
    limits,
  );

describe("render keys", () => {
  it("let a 4x render serve the phases of 2x and 3x renders (the demo's cache hits)", async () => {
    const k4 = await renderKeys("bundle", req(2048), 512);
    const k3 = await renderKeys("bundle", req(1536), 512);
    const k2 = await renderKeys("bundle", req(1024), 512);
    expect(k4.scales).toEqual([1, 2, 3, 4]);
    expect(k3.phase1).toBe(k4.phase1);
    expect(k3.phases["3"]).toBe(k4.phases["3"]);
    expect(k2.phases["2"]).toBe(k4.phases["2"]);
  });

  it("change every upscaling key, not phase 1, when only c changes", async () => {
    const a = await renderKeys("bundle", req(2048, { c: 0.3 }), 512);
    const b = await renderKeys("bundle", req(2048, { c: 0.5 }), 512);
    expect(b.phase1).toBe(a.phase1);
    for (const k of ["2", "3", "4"]) expect(b.phases[k]).not.toBe(a.phases[k]);
  });

  it("depend on the bundle", async () => {
    expect((await renderKeys("other", req(1024), 512)).phase1).not.toBe(
      (await renderKeys("bundle", req(1024), 512)).phase1,
    );
  });
});
