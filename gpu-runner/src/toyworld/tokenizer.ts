/**
 * The toy world's CLIP tokenizer: CLIP's exact file layout (byte-level alphabet, BPE with the
 * `</w>` end-of-word suffix, BOS/EOS last) with a small merge table that makes every world word
 * and common prompt word one token. Any other text still tokenizes, into smaller pieces (no UNK).
 */
import { FUNCTION_WORDS, MAX_TOKENS, THINGS } from "./world";

export const BOS = "<|startoftext|>";
export const EOS = "<|endoftext|>";
const SUFFIX = "</w>";
const CLIP_SPLIT =
  "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";

/** GPT-2/CLIP byte -> printable character table, in CLIP's vocabulary order (printable bytes first). */
export function byteSymbols(): string[] {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const rest: string[] = [];
  let extra = 0;
  for (let b = 0; b < 256; b++) if (!printable.includes(b)) rest.push(String.fromCharCode(256 + extra++));
  return [...printable.map((b) => String.fromCharCode(b)), ...rest];
}

/** Symbols of one word after BPE with `ranks` (lowest rank merged first, leftmost on ties). */
export function bpeWord(word: string, ranks: ReadonlyMap<string, number>): string[] {
  const symbols = [...word];
  symbols[symbols.length - 1] += SUFFIX;
  for (;;) {
    let best = -1;
    let bestRank = Number.POSITIVE_INFINITY;
    for (let i = 0; i + 1 < symbols.length; i++) {
      const r = ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
      if (r !== undefined && r < bestRank) {
        bestRank = r;
        best = i;
      }
    }
    if (best < 0) return symbols;
    symbols.splice(best, 2, symbols[best] + symbols[best + 1]);
  }
}

export interface Vocabulary {
  /** token -> id, in id order. */
  readonly vocab: ReadonlyMap<string, number>;
  /** Merges in rank order, "left right". */
  readonly merges: readonly string[];
  readonly bosId: number;
  readonly eosId: number;
  /** The whole-word tokens ("cat</w>", ...) of the world's words. */
  readonly wordTokens: ReadonlyMap<string, number>;
}

/** Every word of the world (things, then function words), lowercase. */
export function worldWords(): string[] {
  return [...THINGS.flatMap((t) => t.words), ...FUNCTION_WORDS];
}

/**
 * Merges that make each word one token: its left-to-right chain, then (fix-point) a merge for any
 * pair a word still gets stuck on. Later merges have higher ranks, so they never change how an
 * earlier, already-complete word is split.
 */
export function buildVocabulary(): Vocabulary {
  const merges: string[] = [];
  const ranks = new Map<string, number>();
  const addMerge = (a: string, b: string) => {
    const key = `${a} ${b}`;
    if (ranks.has(key)) return;
    ranks.set(key, merges.length);
    merges.push(key);
  };
  const words = worldWords();
  for (const word of words) {
    const chars = [...word];
    chars[chars.length - 1] += SUFFIX;
    let left = chars[0];
    for (let i = 1; i < chars.length; i++) {
      addMerge(left, chars[i]);
      left += chars[i];
    }
  }
  for (let changed = true; changed; ) {
    changed = false;
    for (const word of words) {
      const s = bpeWord(word, ranks);
      if (s.length > 1) {
        addMerge(s[0], s[1]);
        changed = true;
      }
    }
  }
  return vocabularyOf(merges, words);
}

/**
 * CLIP's vocabulary for a merge table: the 256 byte symbols, the same with `</w>`, each merge's result (first
 * occurrence), then BOS and EOS last. `words` are the whole words whose tokens `wordTokens` lists.
 */
export function vocabularyOf(merges: readonly string[], words: readonly string[] = []): Vocabulary {
  const vocab = new Map<string, number>();
  const symbols = byteSymbols();
  for (const c of symbols) vocab.set(c, vocab.size);
  for (const c of symbols) vocab.set(c + SUFFIX, vocab.size);
  for (const m of merges) {
    const merged = m.replace(" ", "");
    if (!vocab.has(merged)) vocab.set(merged, vocab.size);
  }
  const bosId = vocab.size;
  vocab.set(BOS, bosId);
  const eosId = vocab.size;
  vocab.set(EOS, eosId);
  const wordTokens = new Map<string, number>();
  for (const w of words) wordTokens.set(w, vocab.get(w + SUFFIX)!);
  return { vocab, merges, bosId, eosId, wordTokens };
}

function special(id: number, content: string) {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true };
}

/** `tokenizer.json` in the Hugging Face tokenizers format, laid out as CLIP's. */
export function tokenizerJson(v: Vocabulary): Record<string, unknown> {
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [special(v.bosId, BOS), special(v.eosId, EOS)],
    normalizer: {
      type: "Sequence",
      normalizers: [
        { type: "NFC" },
        { type: "Replace", pattern: { Regex: "\\s+" }, content: " " },
        { type: "Lowercase" },
      ],
    },
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: CLIP_SPLIT }, behavior: "Removed", invert: true },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: {
      type: "RobertaProcessing",
      sep: [EOS, v.eosId],
      cls: [BOS, v.bosId],
      trim_offsets: false,
      add_prefix_space: false,
    },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: EOS,
      continuing_subword_prefix: "",
      end_of_word_suffix: SUFFIX,
      fuse_unk: false,
      byte_fallback: false,
      vocab: Object.fromEntries(v.vocab),
      merges: [...v.merges],
    },
  };
}

const addedToken = (content: string) => ({
  content,
  lstrip: false,
  normalized: true,
  rstrip: false,
  single_word: false,
});

/**
 * The files of one tokenizer folder. SDXL's tokenizer pads with `<|endoftext|>`, tokenizer_2
 * with `!` (id 0); `padToken` picks which.
 */
export function tokenizerFiles(v: Vocabulary, padToken: string): Record<string, string> {
  const config = {
    add_prefix_space: false,
    bos_token: addedToken(BOS),
    clean_up_tokenization_spaces: true,
    do_lower_case: true,
    eos_token: addedToken(EOS),
    errors: "replace",
    model_max_length: MAX_TOKENS,
    pad_token: padToken === EOS ? addedToken(EOS) : padToken,
    tokenizer_class: "CLIPTokenizer",
    unk_token: addedToken(EOS),
  };
  const specialMap = { bos_token: BOS, eos_token: EOS, pad_token: padToken, unk_token: EOS };
  return {
    "tokenizer.json": `${JSON.stringify(tokenizerJson(v))}\n`,
    "vocab.json": `${JSON.stringify(Object.fromEntries(v.vocab))}\n`,
    "merges.txt": `#version: 0.2\n${v.merges.join("\n")}\n`,
    "tokenizer_config.json": `${JSON.stringify(config, null, 2)}\n`,
    "special_tokens_map.json": `${JSON.stringify(specialMap, null, 2)}\n`,
  };
}

/** What each token id means to the text encoders. */
export interface TokenMeaning {
  /** Thing index (THINGS) of each id, or -1. */
  readonly thing: Int8Array;
  readonly bosId: number;
  readonly eosId: number;
}

export function tokenMeanings(v: Vocabulary): TokenMeaning {
  const thing = new Int8Array(v.vocab.size).fill(-1);
  THINGS.forEach((t, k) => {
    for (const w of t.words) thing[v.wordTokens.get(w)!] = k;
  });
  return { thing, bosId: v.bosId, eosId: v.eosId };
}
