"""`tokenizer.json` (Hugging Face tokenizers format) from a slow CLIP tokenizer folder (pure, stdlib only).

What transformers' `CLIPTokenizerFast` conversion (`convert_slow_tokenizer.CLIPConverter`, 4.34)
writes, built from the same files the slow `CLIPTokenizer` reads, so that no fast-tokenizers
library is needed:

* the BPE model: `vocab.json`, and the merges the slow tokenizer uses — the lines of `merges.txt`
  after its `#version` header, at most 49152 - 256 - 2 of them (CLIPTokenizer's own slice);
  `</w>` end-of-word suffix, unknown token = the tokenizer's `unk_token`;
* the normalizer (NFC, whitespace runs -> one space, lowercase), the pre-tokenizer (CLIP's split
  regex, then byte-level), the byte-level decoder, BOS/EOS added by a RobertaProcessing
  post-processor;
* the added tokens (`tokenizer_config.json`'s `added_tokens_decoder`, else `added_tokens.json`),
  with their flags: SDXL's tokenizer_2 adds its pad token "!" (id 0) as a special token, so a
  prompt's "!" becomes id 0 there, exactly as the slow tokenizer does.
"""

from __future__ import annotations

import json
from pathlib import Path

# CLIPTokenizer.__init__: `merges_handle.read().strip().split("\n")[1 : 49152 - 256 - 2 + 1]`.
MERGES_LIMIT = 49152 - 256 - 2
CLIP_SPLIT = r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""


def _token_text(v, default=None):
    if isinstance(v, str):
        return v
    if isinstance(v, dict) and isinstance(v.get("content"), str):
        return v["content"]
    return default


def read_merges(text: str) -> list:
    lines = text.strip().split("\n")[1 : MERGES_LIMIT + 1]
    merges = []
    for n, line in enumerate(lines, start=2):
        parts = line.split()
        if len(parts) != 2:
            raise ValueError(f"merges.txt line {n}: {line!r} is not a pair")
        merges.append(f"{parts[0]} {parts[1]}")
    return merges


def added_tokens(folder: Path, vocab: dict) -> list:
    """The tokenizer's added tokens, by id, with the flags the slow tokenizer records."""
    folder = Path(folder)
    config = _read_json(folder / "tokenizer_config.json") or {}
    special = _read_json(folder / "special_tokens_map.json") or {}
    specials = {_token_text(config.get(k)) or _token_text(special.get(k)) for k in ("bos_token", "eos_token", "unk_token", "pad_token")}
    entries = {}
    decoder = config.get("added_tokens_decoder")
    if isinstance(decoder, dict):
        for key, tok in decoder.items():
            entries[int(key)] = {
                "content": tok["content"],
                "single_word": bool(tok.get("single_word", False)),
                "lstrip": bool(tok.get("lstrip", False)),
                "rstrip": bool(tok.get("rstrip", False)),
                "normalized": bool(tok.get("normalized", True)),
                "special": bool(tok.get("special", True)),
            }
    else:
        for content, idx in (_read_json(folder / "added_tokens.json") or {}).items():
            entries[int(idx)] = {"content": content, "single_word": False, "lstrip": False, "rstrip": False,
                                 "normalized": True, "special": content in specials}
    for content in ("<|startoftext|>", "<|endoftext|>"):
        if content in vocab and vocab[content] not in entries:
            entries[vocab[content]] = {"content": content, "single_word": False, "lstrip": False, "rstrip": False,
                                       "normalized": True, "special": True}
    out = []
    for idx in sorted(entries):
        e = entries[idx]
        if vocab.get(e["content"], idx) != idx:
            raise ValueError(f"{folder}: added token {e['content']!r} is id {idx}, vocab.json says {vocab[e['content']]}")
        out.append({"id": idx, **e})
    return out


def tokenizer_json(folder: Path) -> dict:
    """The `tokenizer.json` object for the slow CLIP tokenizer files in `folder`."""
    folder = Path(folder)
    vocab = _read_json(folder / "vocab.json")
    if not isinstance(vocab, dict) or not vocab:
        raise ValueError(f"{folder}/vocab.json: missing or empty")
    merges = read_merges((folder / "merges.txt").read_text(encoding="utf-8"))
    config = _read_json(folder / "tokenizer_config.json") or {}
    special = _read_json(folder / "special_tokens_map.json") or {}

    def named(key: str, default: str) -> str:
        return _token_text(config.get(key)) or _token_text(special.get(key)) or default

    bos, eos, unk = named("bos_token", "<|startoftext|>"), named("eos_token", "<|endoftext|>"), named("unk_token", "<|endoftext|>")
    for t in (bos, eos, unk):
        if t not in vocab:
            raise ValueError(f"{folder}: special token {t!r} is not in vocab.json")
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added_tokens(folder, vocab),
        "normalizer": {
            "type": "Sequence",
            "normalizers": [{"type": "NFC"}, {"type": "Replace", "pattern": {"Regex": r"\s+"}, "content": " "}, {"type": "Lowercase"}],
        },
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": CLIP_SPLIT}, "behavior": "Removed", "invert": True},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
            ],
        },
        "post_processor": {
            "type": "RobertaProcessing",
            "sep": [eos, vocab[eos]],
            "cls": [bos, vocab[bos]],
            "trim_offsets": False,
            "add_prefix_space": False,
        },
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": unk,
            "continuing_subword_prefix": "",
            "end_of_word_suffix": "</w>",
            "fuse_unk": False,
            "byte_fallback": False,
            "vocab": vocab,
            "merges": merges,
        },
    }


def write_tokenizer_json(folder: Path) -> Path:
    path = Path(folder) / "tokenizer.json"
    path.write_text(json.dumps(tokenizer_json(folder), ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _read_json(path: Path):
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))
