/**
 * Test support: a small tokenizer in the exact layout of Hugging Face's CLIP `tokenizer.json`
 * (NFC + whitespace collapse + lowercase, CLIP's split regex, byte-level alphabet, BPE with the
 * `</w>` end-of-word suffix, RobertaProcessing specials, byte-level decoder), with a handful of
 * merges so that whole words and sub-words both occur. Ids: 256 byte symbols, 256 byte symbols
 * + `</w>`, then the merges' results, then `<|startoftext|>` and `<|endoftext|>` last, as CLIP.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** GPT-2/CLIP byte -> printable unicode char mapping (bytes_to_unicode). */
export function bytesToUnicode(): string[] {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const table: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    table[b] = printable.includes(b) ? String.fromCharCode(b) : String.fromCharCode(256 + extra++);
  }
  return table;
}

const CLIP_SPLIT =
  "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";

/** Merges producing: a, cat, dog, on, the, red, sofa, beauti+ful (sub-word), in CLIP's format. */
export const FIXTURE_MERGES: readonly string[] = [
  "c a",
  "ca t</w>",
  "d o",
  "do g</w>",
  "o n</w>",
  "t h",
  "th e</w>",
  "r e",
  "re d</w>",
  "s o",
  "so f",
  "sof a</w>",
  "b e",
  "be a",
  "bea u",
  "beau t",
  "beaut i",
  "f u",
  "fu l</w>",
];

export interface ClipFixtureOptions {
  /** pad_token written to tokenizer_config.json; undefined writes none (CLIP then pads with EOS). */
  padToken?: string;
  maxLength?: number;
}

export function clipTokenizerJson(): Record<string, unknown> {
  // CLIP's vocab lists the byte symbols printable bytes first (so '!' is id 0), then the rest.
  const table = bytesToUnicode();
  const byteChars = [...table].sort((a, b) => a.charCodeAt(0) - b.charCodeAt(0));
  const vocab: Record<string, number> = {};
  let next = 0;
  for (const c of byteChars) vocab[c] = next++;
  for (const c of byteChars) vocab[`${c}</w>`] = next++;
  for (const m of FIXTURE_MERGES) {
    const merged = m.replace(" ", "");
    if (!(merged in vocab)) vocab[merged] = next++;
  }
  const bos = next++;
  const eos = next++;
  vocab["<|startoftext|>"] = bos;
  vocab["<|endoftext|>"] = eos;
  const special = (id: number, content: string) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: true,
    special: true,
  });
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [special(bos, "<|startoftext|>"), special(eos, "<|endoftext|>")],
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
      sep: ["<|endoftext|>", eos],
      cls: ["<|startoftext|>", bos],
      trim_offsets: false,
      add_prefix_space: false,
    },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: "<|endoftext|>",
      continuing_subword_prefix: "",
      end_of_word_suffix: "</w>",
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges: [...FIXTURE_MERGES],
    },
  };
}

/** Writes tokenizer.json, tokenizer_config.json and special_tokens_map.json into `dir`. */
export async function writeClipTokenizerFixture(dir: string, opts: ClipFixtureOptions = {}): Promise<void> {
  await mkdir(dir, { recursive: true });
  const config: Record<string, unknown> = {
    add_prefix_space: false,
    bos_token: { content: "<|startoftext|>", lstrip: false, normalized: true, rstrip: false, single_word: false },
    clean_up_tokenization_spaces: true,
    do_lower_case: true,
    eos_token: { content: "<|endoftext|>", lstrip: false, normalized: true, rstrip: false, single_word: false },
    errors: "replace",
    model_max_length: opts.maxLength ?? 77,
    tokenizer_class: "CLIPTokenizer",
    unk_token: { content: "<|endoftext|>", lstrip: false, normalized: true, rstrip: false, single_word: false },
  };
  if (opts.padToken !== undefined) config.pad_token = opts.padToken;
  const specialMap: Record<string, unknown> = {
    bos_token: "<|startoftext|>",
    eos_token: "<|endoftext|>",
    unk_token: "<|endoftext|>",
  };
  if (opts.padToken !== undefined) specialMap.pad_token = opts.padToken;
  await writeFile(join(dir, "tokenizer.json"), JSON.stringify(clipTokenizerJson()));
  await writeFile(join(dir, "tokenizer_config.json"), JSON.stringify(config, null, 2));
  await writeFile(join(dir, "special_tokens_map.json"), JSON.stringify(specialMap, null, 2));
}
