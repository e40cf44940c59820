import { Tokenizer } from "@huggingface/tokenizers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createClipTokenizer } from "../models/tokenizer";
import { BOS, bpeWord, buildVocabulary, EOS, tokenizerFiles, tokenMeanings, worldWords } from "./tokenizer";
import { MAX_TOKENS, THINGS } from "./world";

const vocabulary = buildVocabulary();
const files = tokenizerFiles(vocabulary, EOS);
const hf = new Tokenizer(JSON.parse(files["tokenizer.json"]), JSON.parse(files["tokenizer_config.json"]));
const ranks = new Map(vocabulary.merges.map((m, i) => [m, i]));

describe("toy-world tokenizer", () => {
  it("lays the vocabulary out as CLIP: byte symbols, then with </w>, merges, BOS and EOS last", () => {
    const v = vocabulary.vocab;
    expect(v.get("!")).toBe(0);
    expect(v.get("!</w>")).toBe(256);
    expect(vocabulary.bosId).toBe(v.size - 2);
    expect(vocabulary.eosId).toBe(v.size - 1);
    expect(v.get(BOS)).toBe(vocabulary.bosId);
    expect(new Set(v.values()).size).toBe(v.size);
    expect(files["merges.txt"].split("\n")[0]).toBe("#version: 0.2");
    expect(JSON.parse(files["vocab.json"])).toEqual(Object.fromEntries(v));
  });

  it("makes every world word a single token, in @huggingface/tokenizers as in our BPE", () => {
    for (const word of worldWords()) {
      expect(bpeWord(word, ranks)).toEqual([`${word}</w>`]);
      const e = hf.encode(word);
      expect(e.tokens).toEqual([BOS, `${word}</w>`, EOS]);
    }
  });

  it("tokenizes a prompt to BOS + one token per word + EOS, lowercased", () => {
    const e = hf.encode("A Cat and a DOG on a lawn");
    expect(e.tokens).toEqual([
      BOS,
      "a</w>",
      "cat</w>",
      "and</w>",
      "a</w>",
      "dog</w>",
      "on</w>",
      "a</w>",
      "lawn</w>",
      EOS,
    ]);
  });

  it("splits unknown words into smaller known pieces, never the unknown token", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z0-9,.!]{1,12}$/), (word) => {
        const e = hf.encode(word);
        expect(e.ids[0]).toBe(vocabulary.bosId);
        expect(e.ids.at(-1)).toBe(vocabulary.eosId);
        expect(e.ids.slice(1, -1)).not.toContain(vocabulary.eosId);
        expect(hf.decode(e.ids.slice(1, -1)).replaceAll("</w>", "").replaceAll(" ", "")).toBe(word);
      }),
    );
  });

  it("loads through the runner's CLIP tokenizer with SDXL's pads (EOS, and '!' for tokenizer_2)", () => {
    for (const [pad, padId] of [
      [EOS, vocabulary.eosId],
      ["!", 0],
    ] as const) {
      const f = tokenizerFiles(vocabulary, pad);
      const tok = createClipTokenizer(
        {
          tokenizerJson: JSON.parse(f["tokenizer.json"]),
          config: JSON.parse(f["tokenizer_config.json"]),
          specialTokensMap: JSON.parse(f["special_tokens_map.json"]),
        },
        MAX_TOKENS,
      );
      const t = tok.tokenize("a cat on a lawn");
      expect(t.ids).toHaveLength(MAX_TOKENS);
      expect(t.tokens).toEqual([BOS, "a", "cat", "on", "a", "lawn", EOS]);
      expect(t.ids[t.length]).toBe(padId);
      expect(tok.padId).toBe(padId);
    }
  });

  it("knows which thing each word token names", () => {
    const m = tokenMeanings(vocabulary);
    THINGS.forEach((t, k) => {
      for (const w of t.words) expect(m.thing[vocabulary.wordTokens.get(w)!]).toBe(k);
    });
    expect(m.thing[vocabulary.wordTokens.get("and")!]).toBe(-1);
    expect(m.thing[vocabulary.bosId]).toBe(-1);
  });
});
