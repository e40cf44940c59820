import { describe, expect, it } from "vitest";
import { FakeModels, GOLDEN_FAKE_CONSTANTS, SDXL_SCHEDULER } from "../golden/testing/fakeModels";
import type { TextEmbedding } from "../models/types";
import { ConditioningCache, cfgConditioning, EmbeddingLru, JobTexts } from "./textEncoding";

function setup(lru: EmbeddingLru | null, truncateWordsAbove?: number) {
  const models = new FakeModels({
    constants: GOLDEN_FAKE_CONSTANTS,
    sampleSize: 8,
    scheduler: SDXL_SCHEDULER,
    truncateWordsAbove,
  });
  const encoded: string[] = [];
  const encode = (t: string) => {
    encoded.push(t);
    return models.encodeText(t);
  };
  const warnings: string[] = [];
  return { models, encoded, warnings, texts: new JobTexts(models, encode, lru, warnings) };
}

describe("EmbeddingLru", () => {
  it("evicts the least recently used entry", () => {
    const lru = new EmbeddingLru(2);
    const e = (v: number): TextEmbedding => ({ hidden: Float32Array.of(v), pooled: Float32Array.of(v) });
    lru.set("a", e(1));
    lru.set("b", e(2));
    expect(lru.get("a")?.hidden[0]).toBe(1); // a is now the most recent
    lru.set("c", e(3));
    expect(lru.get("b")).toBeUndefined();
    expect(lru.get("a")?.hidden[0]).toBe(1);
    expect(lru.get("c")?.hidden[0]).toBe(3);
    expect(lru.size).toBe(2);
  });
});

describe("JobTexts", () => {
  it("encodes each unique text once per job, concurrently requested or not", async () => {
    const { texts, encoded } = setup(null);
    const all = await Promise.all(["a cat", "a dog", "a cat", "", "a dog", ""].map((t) => texts.embed(t)));
    expect(encoded.sort()).toEqual(["", "a cat", "a dog"]);
    expect(all[0]).toBe(all[2]);
    expect(texts.uniqueTexts).toBe(3);
  });

  it("reuses embeddings across jobs through the LRU (keyed by bundle hash)", async () => {
    const lru = new EmbeddingLru(8);
    const first = setup(lru);
    await first.texts.embed("a red car");
    const second = setup(lru);
    const e = await second.texts.embed("a red car");
    expect(second.encoded).toEqual([]);
    expect(e.pooled[0]).toBe(Math.fround(9 / 100));
  });

  it("warns once per text the tokenizer cut", async () => {
    const { texts, warnings } = setup(null, 3);
    await texts.embed("one two three four");
    await texts.embed("one two three four");
    await texts.embed("short one");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("cut to 4 tokens");
  });

  it("does not cache a failed encode", async () => {
    const models = new FakeModels({ constants: GOLDEN_FAKE_CONSTANTS, sampleSize: 8, scheduler: SDXL_SCHEDULER });
    let fail = true;
    const texts = new JobTexts(
      models,
      (t) => (fail ? Promise.reject(new Error("boom")) : models.encodeText(t)),
      null,
      [],
    );
    await expect(texts.embed("x")).rejects.toThrow("boom");
    fail = false;
    await expect(texts.embed("x")).resolves.toBeDefined();
  });
});

describe("cfgConditioning", () => {
  it("lays out [negative, text] per view", () => {
    const e = (v: number, n: number): TextEmbedding => ({
      hidden: new Float32Array(n * 2).fill(v),
      pooled: Float32Array.of(v),
    });
    const c = cfgConditioning(e(-1, 3), [e(1, 3), e(2, 3)], 3, 2, 1);
    expect(c.encoderHiddenStates.shape).toEqual([4, 3, 2]);
    expect(Array.from(c.textEmbeds.data)).toEqual([-1, 1, -1, 2]);
    expect(c.encoderHiddenStates.data[6 * 3]).toBe(2);
  });

  it("ConditioningCache builds a batch once per phase", async () => {
    const { texts, encoded } = setup(null);
    const cache = new ConditioningCache(texts, 4, 8, 8);
    const a = await cache.batch("neg", ["p", "q"]);
    const b = await cache.batch("neg", ["p", "q"]);
    expect(a).toBe(b);
    cache.clear();
    const c = await cache.batch("neg", ["p", "q"]);
    expect(c).not.toBe(a);
    expect(encoded.sort()).toEqual(["neg", "p", "q"]);
  });
});
