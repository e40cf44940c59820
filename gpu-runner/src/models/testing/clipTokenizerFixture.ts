/**
 * Test support: a small tokenizer in the exact layout of Hugging Face's CLIP `tokenizer.json`
 * (NFC + whitespace collapse + lowercase, CLIP's split regex, byte-level alphabet, BPE with the
 * `</w>` end-of-word suffix, RobertaProcessing specials, byte-level decoder), with a handful of
 * merges so that whole words and sub-words both occur. Ids: 256 byte symbols, 256 byte symbols
 * + `</w>`, then the merges' results, then `<|startoftext|>` and `<|endoftext|>` last, as CLIP.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tokenizerJson, vocabularyOf } from "../../toyworld/tokenizer";

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

/** tokenizer.json for FIXTURE_MERGES, built as the toy world builds its own (one CLIP layout to keep right). */
export function clipTokenizerJson(): Record<string, unknown> {
  return tokenizerJson(vocabularyOf(FIXTURE_MERGES));
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
