import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { quote } from "./prices";
import { fromZodError } from "./problem";
import {
  DEFAULT_LIMITS,
  GenerationRequestSchema,
  makeGenerationRequestSchema,
  phaseScales,
  phaseSize,
  REQUEST_DEFAULTS,
  renderPhases,
  resolveRequest,
  SWITCH_DEFAULTS,
} from "./request";

const ok = { prompt: "a cat and a dog are playing on the lawn", width: 2048, height: 2048 };

function issuesOf(input: unknown) {
  const r = GenerationRequestSchema.safeParse(input);
  if (r.success) return [];
  return fromZodError(r.error).errors ?? [];
}

describe("GenerationRequest", () => {
  it("fills the reference's command-line defaults", () => {
    const r = resolveRequest({ ...ok, seed: 7 });
    expect(r).toMatchObject({
      steps: 50,
      guidanceScale: 7.5,
      multiGuidanceScale: 7.5,
      cosineScale1: 3,
      cosineScale2: 1,
      cosineScale3: 1,
      sigma: 0.8,
      stride: null,
      c: 0.3,
      cannySigma: 0.3,
      controlnetConditioningScale: 0.3,
      controlGuidanceStart: 0,
      controlGuidanceEnd: 1,
      viewBatchSize: 16,
      negativePrompt: "blurry, ugly, duplicate, poorly drawn, deformed, mosaic",
      seed: 7,
      format: "png",
      referenceCompat: false,
    });
    expect(r.switches).toEqual(SWITCH_DEFAULTS);
    expect(Object.values(r.switches).every((v) => v)).toBe(true);
  });

  it("keeps each switch settable for ablations", () => {
    const r = resolveRequest({ ...ok, switches: { windowInteraction: false, controlnet: false } });
    expect(r.switches.windowInteraction).toBe(false);
    expect(r.switches.controlnet).toBe(false);
    expect(r.switches.dilatedSampling).toBe(true);
  });

  it("draws a seed when none is given, within 0..2^32-1", () => {
    const seeds = new Set(Array.from({ length: 20 }, () => resolveRequest(ok).seed));
    expect(seeds.size).toBeGreaterThan(1);
    for (const s of seeds) expect(s >= 0 && s <= 0xffffffff).toBe(true);
  });

  it.each([
    [{ ...ok, width: 2050 }, "width", "multiple of 8"],
    [{ ...ok, width: -2048 }, "width", "positive"],
    [{ ...ok, width: 2048.5 }, "width", "integer"],
    [{ ...ok, width: "2048" }, "width", ""],
    [{ ...ok, width: Number.NaN }, "width", ""],
    [{ ...ok, width: 8192, height: 8192 }, "width", "at most 4096"],
    [{ ...ok, width: 512, height: 512 }, "width", "at least the base resolution"],
    [{ ...ok, width: 4096, height: 1016 }, "width", "aspect ratio"],
    [{ ...ok, seed: -1 }, "seed", ""],
    [{ ...ok, seed: 2 ** 32 }, "seed", ""],
    [{ ...ok, steps: 0 }, "steps", ""],
    [{ ...ok, steps: 151 }, "steps", ""],
    [{ ...ok, guidanceScale: Number.POSITIVE_INFINITY }, "guidanceScale", ""],
    [{ ...ok, c: Number.NaN }, "c", ""],
    [{ ...ok, prompt: "" }, "prompt", ""],
    [{ ...ok, prompt: "x".repeat(1001) }, "prompt", ""],
    [{ ...ok, negativePrompt: "x".repeat(1001) }, "negativePrompt", ""],
    [{ ...ok, evil: true }, "", "unknown field"],
    [{ ...ok, switches: { gaussian: "yes" } }, "switches.gaussian", ""],
    [{ ...ok, switches: { teleport: true } }, "switches", "unknown field"],
    [{ ...ok, controlGuidanceStart: 0.8, controlGuidanceEnd: 0.2 }, "controlGuidanceStart", ""],
    [{ ...ok, format: "gif" }, "format", ""],
    [{ ...ok, image: { sha256: "zz", width: 10, height: 10 } }, "image.sha256", ""],
  ])("rejects hostile input %#", (input, path, message) => {
    const errors = issuesOf(input);
    expect(errors.length).toBeGreaterThan(0);
    const hit = errors.find((e) => e.path === path);
    expect(hit, JSON.stringify(errors)).toBeDefined();
    expect(hit!.message).toContain(message);
  });

  it("rejects non-objects and prototype tricks", () => {
    for (const bad of [null, 42, "x", [], { __proto__: { prompt: "x" } }]) {
      expect(GenerationRequestSchema.safeParse(bad).success).toBe(false);
    }
    expect(
      GenerationRequestSchema.safeParse(JSON.parse('{"prompt":"a","width":1024,"height":1024,"__proto__":{"x":1}}'))
        .success,
    ).toBe(false);
  });

  it("accepts any valid size (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 128, max: 512 }), fc.integer({ min: 128, max: 512 }), (a, b) => {
        const width = a * 8;
        const height = b * 8;
        const long = Math.max(width, height);
        const valid = long >= 1024 && long <= 4096 && long <= 4 * Math.min(width, height);
        expect(GenerationRequestSchema.safeParse({ ...ok, width, height }).success).toBe(valid);
      }),
    );
  });

  it("refuses, under referenceCompat only, a size the reference cannot run, naming the defect (referenceLimits.ts)", () => {
    // 1032 px: phase 1's latent side of 129 has ceil(129 / 4) = 33 attention cells, the reference looks for 1032 // 32.
    const size = { ...ok, width: 1032, height: 1032 };
    const errors = issuesOf({ ...size, referenceCompat: true });
    expect(errors).toHaveLength(1);
    expect(errors[0].path).toBe("referenceCompat");
    expect(errors[0].message).toMatch(/^referenceCompat cannot reproduce 1032x1032 with patch prompts: a defect/);
    expect(errors[0].message).toMatch(/The default mode \(referenceCompat: false\) renders this size/);
    expect(issuesOf(size)).toEqual([]);
    expect(issuesOf({ ...size, referenceCompat: true, switches: { patchPrompts: false } })).toEqual([]);
    const image = { sha256: "a".repeat(64), width: 516, height: 516 };
    expect(issuesOf({ ...size, referenceCompat: true, image })).toEqual([]);
    expect(issuesOf({ ...ok, referenceCompat: true })).toEqual([]);
  });

  it("limits are configurable up to the hard maximum", () => {
    const schema = makeGenerationRequestSchema({ ...DEFAULT_LIMITS, maxSide: 8192 });
    expect(schema.safeParse({ ...ok, width: 8192, height: 8192 }).success).toBe(true);
    expect(schema.safeParse({ ...ok, width: 8200, height: 8192 }).success).toBe(false);
    const toy = makeGenerationRequestSchema({ ...DEFAULT_LIMITS, baseResolution: 512 });
    expect(toy.safeParse({ ...ok, width: 512, height: 512 }).success).toBe(true);
  });

  it("resolveRequest keeps one schema per distinct limits, never one for another's", () => {
    const big = { ...ok, width: 8192, height: 8192 };
    // A fresh limits object per call, as the worker's configuration gives: the same value judges the same way.
    const wide = () => ({ ...DEFAULT_LIMITS, maxSide: 8192 });
    expect(resolveRequest(big, wide()).width).toBe(8192);
    expect(resolveRequest(big, wide()).width).toBe(8192);
    expect(() => resolveRequest(big, { ...DEFAULT_LIMITS, maxSide: 4096 })).toThrow(z.ZodError);
    // Field order does not make a different key, and a changed field does.
    const { maxSide: _, ...rest } = DEFAULT_LIMITS;
    expect(resolveRequest(big, { maxSide: 8192, ...rest }).width).toBe(8192);
    expect(() => resolveRequest(big, { ...wide(), maxAspect: 4, maxSide: 8000 })).toThrow(z.ZodError);
    expect(resolveRequest(big, wide()).width).toBe(8192);
  });

  it("a resolved request is self-consistent with z.infer", () => {
    const r = resolveRequest(ok);
    expect(z.object({ prompt: z.string() }).safeParse(r).success).toBe(true);
    expect(REQUEST_DEFAULTS.steps).toBe(50);
  });
});

describe("phase plan", () => {
  it("integer multiples: one phase per scale, the last exactly the request", () => {
    const r = resolveRequest({ ...ok, width: 4096, height: 4096 });
    expect(phaseScales(r, 1024)).toEqual([1, 2, 3, 4]);
    expect(phaseSize(r, 1024, 1)).toEqual({ width: 1024, height: 1024 });
    expect(phaseSize(r, 1024, 3)).toEqual({ width: 3072, height: 3072 });
    expect(phaseSize(r, 1024, 4)).toEqual({ width: 4096, height: 4096 });
  });

  it("non-integer multiples end at the exact size; without progressive upscaling only [1, S]", () => {
    const r = resolveRequest({ ...ok, width: 3000, height: 2000 });
    expect(phaseScales(r, 1024)).toEqual([1, 2, 3]);
    expect(phaseSize(r, 1024, 3)).toEqual({ width: 3000, height: 2000 });
    expect(phaseSize(r, 1024, 1).width).toBe(1024);
    const np = resolveRequest({ ...ok, width: 4096, height: 4096, switches: { progressiveUpscaling: false } });
    expect(phaseScales(np, 1024)).toEqual([1, 4]);
  });

  it("from an image, the encoded base and the scale-1 refinement are one phase (1), listed and priced once", () => {
    const image = { sha256: "a".repeat(64), width: 1024, height: 1024 };
    const r = resolveRequest({ ...ok, width: 2048, height: 2048, image });
    expect(phaseScales(r, 1024)).toEqual([1, 2]);
    // Phase 1's size is the refinement's, which is the encoded base's.
    expect(phaseSize(r, 1024, 1)).toEqual({ width: 1024, height: 1024 });
    expect(quote(renderPhases(r, 1024), []).lines.map((l) => l.phase)).toEqual([1, 2]);
    expect(quote(renderPhases(r, 1024), [1, 2]).lines.every((l) => l.cached)).toBe(true);
    const same = resolveRequest({ ...ok, width: 1024, height: 1024, image });
    expect(phaseScales(same, 1024)).toEqual([1]);
    expect(quote(renderPhases(same, 1024), [1]).lines).toHaveLength(1);
    const np = resolveRequest({ ...ok, width: 4096, height: 4096, image, switches: { progressiveUpscaling: false } });
    expect(phaseScales(np, 1024)).toEqual([1, 4]);
    // Without a refinement, phase 1 is the encoded base itself (priced at its size, not refused).
    expect(phaseSize(np, 1024, 1)).toEqual({ width: 1024, height: 1024 });
    expect(quote(renderPhases(np, 1024), []).lines.map((l) => [l.phase, l.width])).toEqual([
      [1, 1024],
      [4, 4096],
    ]);
    expect(renderPhases(r, 1024).refinesPhase1).toBe(true);
    expect(renderPhases(np, 1024).refinesPhase1).toBe(false);
  });
});
