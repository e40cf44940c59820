import { describe, expect, it } from "vitest";
import { phase1CacheKey, phase1Inputs, phaseCacheKey, upscaleInputs } from "./cacheKeys";
import { fieldsAtCacheLevel, PARAMETERS, parameterRows, REQUIRED } from "./parameters";
import { GenerationRequestSchema, ResolvedRequestSchema, resolveRequest } from "./request";
import { normalizeText } from "./text";

const LEVELS = ["phase1", "upscale", "plan", "none"];

describe("the parameter table", () => {
  it("gives every request field a cache level (and nothing else is a request field)", () => {
    const fields = Object.keys(GenerationRequestSchema.shape).sort();
    expect(Object.keys(PARAMETERS).sort()).toEqual(fields);
    for (const [k, r] of parameterRows()) expect(LEVELS, k).toContain(r.cache);
    for (const k of Object.keys(ResolvedRequestSchema.shape)) expect(fields, k).toContain(k);
  });

  it("puts exactly the phase1 and upscale fields into the level-1 and level-k keys", () => {
    const r = resolveRequest({ prompt: "a cat", width: 2048, height: 1024, seed: 3 });
    const p1 = Object.keys(phase1Inputs("hash", r));
    for (const k of fieldsAtCacheLevel("phase1")) expect(p1, k).toContain(k);
    for (const k of [...fieldsAtCacheLevel("upscale"), ...fieldsAtCacheLevel("none")]) expect(p1, k).not.toContain(k);
    expect(Object.keys(upscaleInputs(r)).sort()).toEqual(fieldsAtCacheLevel("upscale").sort());
    // Size enters through the plan only: the aspect at level 1.
    expect(p1).not.toContain("width");
  });

  it("keys exactly as the hand-written key functions it replaced did (cached records stay valid)", async () => {
    const cases: [unknown, string, string][] = [
      [
        { prompt: "a cat and a dog", width: 2048, height: 1536, seed: 7 },
        "0df6607a2432166f010941d96ebbe9c3738ee5cf7666506f2c349ac69208f541",
        "c0bbbd03fa5fcf5df6db29cc7333be32549a202a4983b087b0f2e93287437f97",
      ],
      [
        {
          prompt: "x",
          width: 3000,
          height: 2048,
          seed: 1,
          c: 0.4,
          stride: 32,
          switches: { gaussian: false },
          referenceCompat: true,
          image: { sha256: "a".repeat(64), width: 512, height: 384 },
        },
        "47f7cde9e4b2e70c99616d00307f55ee189c46ba8b7f8d80429e3ca80d2c6195",
        "f76094b3b3135c0fe9fe5b415e46f9505a04c58dbcb753db01e12c0661b834f0",
      ],
    ];
    for (const [input, want1, want2] of cases) {
      const r = resolveRequest(input);
      const p1 = await phase1CacheKey("bundlehash", r);
      expect(p1).toBe(want1);
      expect(await phaseCacheKey(p1, p1, r, 2, { width: 2048, height: 1536 })).toBe(want2);
    }
  });

  it("normalises given prompts; the default negative prompt is already normal text", () => {
    const d = PARAMETERS.negativePrompt.default as string;
    expect(normalizeText(d)).toBe(d);
    const r = resolveRequest({ prompt: "a\tcat", negativePrompt: "e\u0301", width: 1024, height: 1024 });
    expect([r.prompt, r.negativePrompt]).toEqual(["a cat", "\u00e9"]);
  });

  it("accepts delivery metadata without resolving or caching it", async () => {
    const base = { prompt: "a cat", width: 1024, height: 1024, seed: 3 };
    const withHook = resolveRequest({ ...base, webhook: "https://example.com/h", webhook_events: ["phase"] });
    expect(withHook).toEqual(resolveRequest(base));
    expect(fieldsAtCacheLevel("none")).toEqual(expect.arrayContaining(["webhook", "webhook_events"]));
    expect(await phase1CacheKey("b", withHook)).toBe(await phase1CacheKey("b", resolveRequest(base)));
    expect(() => resolveRequest({ ...base, webhook_events: ["phase"] })).toThrow(/webhook/);
  });

  it("marks as required exactly the fields without a default", () => {
    const required = parameterRows()
      .filter(([, r]) => r.default === REQUIRED && r.resolved !== null)
      .map(([k]) => k);
    expect(required).toEqual(["prompt", "width", "height"]);
    expect(() => resolveRequest({ prompt: "a", width: 1024 })).toThrow();
  });
});
