import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clipTokenizerJson, writeClipTokenizerFixture } from "./testing/clipTokenizerFixture";
import { createClipTokenizer, loadClipTokenizer } from "./tokenizer";

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "accdiff-tok-"));
  await writeClipTokenizerFixture(join(root, "tokenizer"));
  await writeClipTokenizerFixture(join(root, "tokenizer_2"), { padToken: "!" });
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("CLIP tokenization", () => {
  it("is BOS + tokens + EOS, padded with EOS when the config names no pad token", async () => {
    const tok = await loadClipTokenizer(join(root, "tokenizer"), 77);
    const vocab = (clipTokenizerJson().model as { vocab: Record<string, number> }).vocab;
    expect(tok.bosId).toBe(vocab["<|startoftext|>"]);
    expect(tok.eosId).toBe(vocab["<|endoftext|>"]);
    expect(tok.padId).toBe(tok.eosId);
    const p = tok.tokenize("A cat on the red   SOFA");
    expect(p.ids.length).toBe(77);
    expect(p.length).toBe(8);
    expect(p.truncated).toBe(false);
    expect([...p.ids.slice(0, 8)]).toEqual([
      tok.bosId,
      vocab["a</w>"],
      vocab["cat</w>"],
      vocab["on</w>"],
      vocab["the</w>"],
      vocab["red</w>"],
      vocab["sofa</w>"],
      tok.eosId,
    ]);
    expect(p.ids.slice(8).every((id) => id === tok.eosId)).toBe(true);
    expect(p.tokens).toEqual(["<|startoftext|>", "a", "cat", "on", "the", "red", "sofa", "<|endoftext|>"]);
  });

  it("pads tokenizer_2 with its own pad token '!' (id of '!' in the byte alphabet)", async () => {
    const tok = await loadClipTokenizer(join(root, "tokenizer_2"), 77);
    expect(tok.padId).toBe(0); // '!' is byte 0x21, the first printable: id 0, as SDXL's tokenizer_2
    const p = tok.tokenize("red dog");
    expect(p.ids[3]).toBe(tok.eosId);
    expect([...p.ids.slice(4)].every((id) => id === 0)).toBe(true);
  });

  it("decodes sub-word tokens without the end-of-word marker", async () => {
    const tok = await loadClipTokenizer(join(root, "tokenizer"), 77);
    const p = tok.tokenize("beautiful dog!");
    expect(p.tokens).toEqual(["<|startoftext|>", "beauti", "ful", "dog", "!", "<|endoftext|>"]);
  });

  it("cuts to maxTokens - 2 tokens and flags the truncation", async () => {
    const tok = await loadClipTokenizer(join(root, "tokenizer"), 77);
    const exact = tok.tokenize(Array(75).fill("cat").join(" "));
    expect(exact.truncated).toBe(false);
    expect(exact.length).toBe(77);
    expect(exact.ids[76]).toBe(tok.eosId);
    const over = tok.tokenize(Array(76).fill("cat").join(" "));
    expect(over.truncated).toBe(true);
    expect(over.length).toBe(77);
    expect(over.ids[75]).not.toBe(tok.eosId);
    expect(over.ids[76]).toBe(tok.eosId);
    expect(over.tokens.slice(1, 76).every((t) => t === "cat")).toBe(true);
  });

  it("handles the empty prompt", async () => {
    const tok = await loadClipTokenizer(join(root, "tokenizer"), 77);
    const p = tok.tokenize("");
    expect(p.length).toBe(2);
    expect(p.truncated).toBe(false);
    expect(p.tokens).toEqual(["<|startoftext|>", "<|endoftext|>"]);
  });

  it("always yields maxTokens ids with BOS first, EOS at length - 1 and pads after", () => {
    const tok = createClipTokenizer({ tokenizerJson: clipTokenizerJson(), config: { pad_token: "!" } }, 12);
    const words = fc.constantFrom("cat", "dog", "on", "the", "red", "sofa", "beautiful", "zebra", "42", "!?");
    fc.assert(
      fc.property(fc.array(words, { maxLength: 20 }), (ws) => {
        const p = tok.tokenize(ws.join(" "));
        expect(p.ids.length).toBe(12);
        expect(p.ids[0]).toBe(tok.bosId);
        expect(p.ids[p.length - 1]).toBe(tok.eosId);
        expect(p.tokens.length).toBe(p.length);
        for (let i = p.length; i < 12; i++) expect(p.ids[i]).toBe(0);
        const untruncated = tok.tokenize(ws.join(" "));
        expect(untruncated.ids).toEqual(p.ids);
        if (!p.truncated) expect(p.tokens.slice(1, -1).join("")).toBe(ws.join("").toLowerCase());
      }),
    );
  });

  it("explains unusable tokenizer folders", async () => {
    await expect(loadClipTokenizer(join(root, "nope"), 77)).rejects.toThrow(/tokenizer\.json/);
    const bad = join(root, "bad");
    await writeClipTokenizerFixture(bad, { padToken: "<|pad|>" });
    await expect(loadClipTokenizer(bad, 77)).rejects.toThrow(/pad_token '<\|pad\|>' is not in the vocabulary/);
    await writeFile(join(bad, "tokenizer_config.json"), "{nope");
    await expect(loadClipTokenizer(bad, 77)).rejects.toThrow(/not valid JSON/);
  });
});
