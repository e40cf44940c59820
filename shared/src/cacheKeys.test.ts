import { describe, expect, it } from "vitest";
import { canonicalJson, phase1CacheKey, phaseCacheKey, sha256Hex } from "./cacheKeys";
import { resolveRequest } from "./request";

const r = (extra: object = {}) => resolveRequest({ prompt: "a cat", width: 2048, height: 2048, seed: 3, ...extra });

describe("cache keys", () => {
  it("canonical JSON sorts keys recursively and refuses non-finite numbers", () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 0, y: 1 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[1,{"y":1,"z":0}]},"b":1}',
    );
    expect(() => canonicalJson({ a: Number.NaN })).toThrow();
  });

  it("sha256 matches a known vector", async () => {
    expect(await sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });

  it("phase 1 is shared by renders that differ only in final size or upscale parameters", async () => {
    const k2048 = await phase1CacheKey("bundle", r());
    expect(await phase1CacheKey("bundle", r({ width: 4096, height: 4096 }))).toBe(k2048);
    expect(await phase1CacheKey("bundle", r({ c: 0.5, sigma: 0.5 }))).toBe(k2048);
    for (const change of [
      { seed: 4 },
      { prompt: "a dog" },
      { negativePrompt: "x" },
      { steps: 30 },
      { width: 4096, height: 2048 },
    ]) {
      expect(await phase1CacheKey("bundle", r(change))).not.toBe(k2048);
    }
    expect(await phase1CacheKey("other-bundle", r())).not.toBe(k2048);
  });

  it("phase k depends on every upscale parameter, its index, size and predecessor", async () => {
    const p1 = await phase1CacheKey("bundle", r());
    const size = { width: 2048, height: 2048 };
    const k = await phaseCacheKey(p1, p1, r(), 2, size);
    expect(await phaseCacheKey(p1, p1, r({ width: 4096, height: 4096 }), 2, size)).toBe(k);
    for (const change of [
      { c: 0.4 },
      { sigma: 0.7 },
      { cosineScale1: 2 },
      { switches: { windowInteraction: false } },
      { viewBatchSize: 8 },
    ]) {
      expect(await phaseCacheKey(p1, p1, r(change), 2, size)).not.toBe(k);
    }
    expect(await phaseCacheKey(p1, p1, r(), 3, size)).not.toBe(k);
    expect(await phaseCacheKey(p1, k, r(), 2, size)).not.toBe(k);
  });
});
