/**
 * CLIP tokenization as SDXL's pipeline does it: `tokenizer(prompt, padding="max_length",
 * max_length=77, truncation=True)`, i.e. BOS + the prompt's tokens cut to maxTokens - 2 + EOS,
 * padded with the tokenizer's own pad token (SDXL: `<|endoftext|>` for tokenizer, `!` (id 0) for
 * tokenizer_2).
 *
 * The BPE itself is @huggingface/tokenizers over the bundle's `tokenizer.json`. Per-position
 * decoding reproduces the reference's `tokenizer.decode([id])` used to turn attention masks back
 * into words for patch prompts: byte-level decoded, `</w>` removed, trimmed, specials literal.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import type { TokenizedPrompt } from "./types";

type JsonObject = Record<string, unknown>;

export interface ClipTokenizer {
  readonly maxTokens: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  /** BOS + tokens (cut to maxTokens - 2) + EOS, padded to maxTokens. */
  tokenize(text: string): TokenizedPrompt;
  /** One id decoded on its own, as the reference's `tokenizer.decode([id])` (no `</w>`). */
  decodeToken(id: number): string;
}

export interface ClipTokenizerFiles {
  /** Parsed `tokenizer.json`. */
  tokenizerJson: JsonObject;
  /** Parsed `tokenizer_config.json` ({} when absent). */
  config?: JsonObject;
  /** Parsed `special_tokens_map.json` ({} when absent). */
  specialTokensMap?: JsonObject;
}

/** A special-token entry is either a string or an AddedToken-like `{content}` object. */
function tokenText(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (v !== null && typeof v === "object" && typeof (v as JsonObject).content === "string") {
    return (v as JsonObject).content as string;
  }
  return undefined;
}

function specialToken(files: ClipTokenizerFiles, key: string): string | undefined {
  return tokenText(files.config?.[key]) ?? tokenText(files.specialTokensMap?.[key]);
}

/** Builds a CLIP tokenizer from parsed files; `label` names the folder in error messages. */
export function createClipTokenizer(files: ClipTokenizerFiles, maxTokens: number, label = "tokenizer"): ClipTokenizer {
  if (!Number.isInteger(maxTokens) || maxTokens < 3)
    throw new Error(`${label}: maxTokens must be >= 3, got ${maxTokens}`);
  const tok = new Tokenizer(files.tokenizerJson, files.config ?? {});
  const idOf = (key: string, fallback: string | undefined): number => {
    const text = specialToken(files, key) ?? fallback;
    if (text === undefined) throw new Error(`${label}: no ${key} in tokenizer_config.json or special_tokens_map.json`);
    const id = tok.token_to_id(text);
    if (id === undefined) throw new Error(`${label}: ${key} '${text}' is not in the vocabulary`);
    return id;
  };
  const bosId = idOf("bos_token", "<|startoftext|>");
  const eosId = idOf("eos_token", "<|endoftext|>");
  // CLIPTokenizer pads with EOS unless told otherwise (SDXL's tokenizer_2 says "!").
  const padId = idOf("pad_token", specialToken(files, "eos_token") ?? "<|endoftext|>");

  const decoded = new Map<number, string>();
  const decodeToken = (id: number): string => {
    let s = decoded.get(id);
    if (s === undefined) {
      // CLIPTokenizer.convert_tokens_to_string: bytes decoded, "</w>" -> " ", stripped.
      s = tok
        .decode([id], { skip_special_tokens: false, clean_up_tokenization_spaces: false })
        .replaceAll("</w>", " ")
        .trim();
      decoded.set(id, s);
    }
    return s;
  };

  const tokenize = (text: string): TokenizedPrompt => {
    const body = tok.encode(text, { add_special_tokens: false }).ids;
    const room = maxTokens - 2;
    const kept = Math.min(body.length, room);
    const ids = new Int32Array(maxTokens).fill(padId);
    ids[0] = bosId;
    for (let i = 0; i < kept; i++) ids[1 + i] = body[i];
    ids[1 + kept] = eosId;
    const length = kept + 2;
    const tokens: string[] = [];
    for (let i = 0; i < length; i++) tokens.push(decodeToken(ids[i]));
    return { ids, length, tokens, truncated: body.length > room };
  };

  return { maxTokens, bosId, eosId, padId, tokenize, decodeToken };
}

async function readJson(path: string, required: boolean): Promise<JsonObject | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if (!required && (e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new Error(`cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as JsonObject;
  } catch (e) {
    throw new Error(`${path} is not valid JSON: ${(e as Error).message}`);
  }
}

/** Loads `dir/tokenizer.json` (+ `tokenizer_config.json`, `special_tokens_map.json` when present). */
export async function loadClipTokenizer(dir: string, maxTokens: number): Promise<ClipTokenizer> {
  const [tokenizerJson, config, specialTokensMap] = await Promise.all([
    readJson(join(dir, "tokenizer.json"), true),
    readJson(join(dir, "tokenizer_config.json"), false),
    readJson(join(dir, "special_tokens_map.json"), false),
  ]);
  return createClipTokenizer({ tokenizerJson: tokenizerJson!, config, specialTokensMap }, maxTokens, dir);
}
