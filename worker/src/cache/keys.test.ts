import { DEFAULT_LIMITS, renderPhases, resolveRequest } from "@accdiff/shared";
import { describe, expect, it } from "vitest";
import { renderKeys } from "./keys";

const limits = { ...DEFAULT_LIMITS, baseResolution: 512, maxSide: 4096 };
const req = (side: number, extra: Record<string, unknown> = {}) =>
  resolveRequest(
    { prompt: "a cat and a dog are playing on the lawn", width: side, height: side, seed: 7, ...extra },
    limits,
  );

const keysOf = (bundle: string, r: ReturnType<typeof req>) => renderKeys(bundle, r, renderPhases(r, 512));

describe("render keys", () => {
  it("let a 4x render serve the phases of 2x and 3x renders (the demo's cache hits)", async () => {
    const k4 = await keysOf("bundle", req(2048));
    const k3 = await keysOf("bundle", req(1536));
    const k2 = await keysOf("bundle", req(1024));
    expect(k4.scales).toEqual([1, 2, 3, 4]);
    expect(k3.phase1).toBe(k4.phase1);
    expect(k3.phases["3"]).toBe(k4.phases["3"]);
    expect(k2.phases["2"]).toBe(k4.phases["2"]);
  });

  it("change every upscaling key, not phase 1, when only c changes", async () => {
    const a = await keysOf("bundle", req(2048, { c: 0.3 }));
    const b = await keysOf("bundle", req(2048, { c: 0.5 }));
    expect(b.phase1).toBe(a.phase1);
    for (const k of ["2", "3", "4"]) expect(b.phases[k]).not.toBe(a.phases[k]);
  });

  it("give the scale-1 refinement of an image its own key (it depends on the upscale parameters)", async () => {
    const image = { sha256: "b".repeat(64), width: 512, height: 512 };
    const a = await keysOf("bundle", req(1024, { image }));
    expect(a.scales).toEqual([1, 2]);
    expect(Object.keys(a.phases).sort()).toEqual(["1", "2"]);
    const b = await renderKeys(
      "bundle",
      req(1024, { image, sigma: 0.5 }),
      renderPhases(req(1024, { image, sigma: 0.5 }), 512),
    );
    expect(b.phase1).toBe(a.phase1);
    expect(b.phases["1"]).not.toBe(a.phases["1"]);
    const same = await keysOf("bundle", req(512, { image }));
    expect(same.scales).toEqual([1]);
    expect(same.phases["1"]).toBe(a.phases["1"]);
    // Without progressive upscaling a 2x render from an image has no refinement: phase 1 is the encoded image.
    const np = await renderKeys(
      "bundle",
      req(1024, { image, switches: { progressiveUpscaling: false } }),
      renderPhases(req(1024, { image, switches: { progressiveUpscaling: false } }), 512),
    );
    expect(Object.keys(np.phases)).toEqual(["2"]);
    // Generated renders have no phase-1 pointer.
    expect(Object.keys((await keysOf("bundle", req(1024))).phases)).toEqual(["2"]);
  });

  it("depend on the bundle", async () => {
    expect((await keysOf("other", req(1024))).phase1).not.toBe((await keysOf("bundle", req(1024))).phase1);
  });
});
