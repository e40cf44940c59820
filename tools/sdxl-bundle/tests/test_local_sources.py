"""Local model folders as sources (pure parts: no PyTorch), and tokenizer.json from the slow CLIP files."""

import json
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sdxl_bundle.clip_tokenizer_json import MERGES_LIMIT, read_merges, tokenizer_json  # noqa: E402
from sdxl_bundle.hashing import folder_revision  # noqa: E402
from sdxl_bundle.sources import Sources, is_local  # noqa: E402

BYTES = [chr(c) for c in range(ord("a"), ord("z") + 1)]


def clip_folder(root: Path, pad: str = "<|endoftext|>") -> Path:
    """A CLIP tokenizer folder with a toy vocabulary (letters, letters + </w>, two merges, BOS/EOS, "!")."""
    vocab = {"!": 0}
    for c in BYTES:
        vocab.setdefault(c, len(vocab))
    for c in BYTES:
        vocab[c + "</w>"] = len(vocab)
    vocab["ca"] = len(vocab)
    vocab["cat</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    root.mkdir(parents=True, exist_ok=True)
    (root / "vocab.json").write_text(json.dumps(vocab))
    (root / "merges.txt").write_text("#version: 0.2\nc a\nca t</w>\n")
    decoder = {str(vocab["<|startoftext|>"]): {"content": "<|startoftext|>", "normalized": True, "special": True},
               str(vocab["<|endoftext|>"]): {"content": "<|endoftext|>", "normalized": True, "special": True}}
    if pad == "!":
        decoder["0"] = {"content": "!", "normalized": False, "special": True}
    (root / "tokenizer_config.json").write_text(json.dumps({"added_tokens_decoder": decoder, "pad_token": pad,
                                                           "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
                                                           "unk_token": "<|endoftext|>", "model_max_length": 77}))
    (root / "special_tokens_map.json").write_text(json.dumps({"pad_token": pad}))
    return root


class TokenizerJson(unittest.TestCase):
    def test_clip_layout_from_the_slow_files(self):
        with tempfile.TemporaryDirectory() as d:
            t = tokenizer_json(clip_folder(Path(d) / "tokenizer"))
            self.assertEqual(t["model"]["type"], "BPE")
            self.assertEqual(t["model"]["end_of_word_suffix"], "</w>")
            self.assertEqual(t["model"]["merges"], ["c a", "ca t</w>"])
            self.assertEqual(t["model"]["unk_token"], "<|endoftext|>")
            bos, eos = t["model"]["vocab"]["<|startoftext|>"], t["model"]["vocab"]["<|endoftext|>"]
            self.assertEqual(t["post_processor"]["cls"], ["<|startoftext|>", bos])
            self.assertEqual(t["post_processor"]["sep"], ["<|endoftext|>", eos])
            self.assertEqual([a["id"] for a in t["added_tokens"]], [bos, eos])
            self.assertEqual([n["type"] for n in t["normalizer"]["normalizers"]], ["NFC", "Replace", "Lowercase"])

    def test_tokenizer_2s_pad_token_is_an_added_special_token(self):
        # transformers' slow tokenizer_2 turns a prompt's "!" into id 0: tokenizer.json must do the same.
        with tempfile.TemporaryDirectory() as d:
            t = tokenizer_json(clip_folder(Path(d) / "tokenizer_2", pad="!"))
            first = t["added_tokens"][0]
            self.assertEqual((first["id"], first["content"], first["special"], first["normalized"]), (0, "!", True, False))

    def test_merges_are_cut_like_clip_tokenizer(self):
        lines = "#version: 0.2\n" + "\n".join(f"a{i} b" for i in range(MERGES_LIMIT + 10))
        self.assertEqual(len(read_merges(lines)), MERGES_LIMIT)
        with self.assertRaises(ValueError):
            read_merges("#version\nabc\n")

    def test_an_added_token_with_another_id_than_the_vocab_is_refused(self):
        with tempfile.TemporaryDirectory() as d:
            root = clip_folder(Path(d) / "t", pad="!")
            cfg = json.loads((root / "tokenizer_config.json").read_text())
            cfg["added_tokens_decoder"]["5"] = cfg["added_tokens_decoder"].pop("0")
            (root / "tokenizer_config.json").write_text(json.dumps(cfg))
            with self.assertRaises(ValueError):
                tokenizer_json(root)


class LocalSources(unittest.TestCase):
    def test_folder_revision_follows_every_file(self):
        with tempfile.TemporaryDirectory() as d:
            root = Path(d)
            (root / "unet").mkdir()
            (root / "unet" / "config.json").write_text("{}")
            (root / "model_index.json").write_text("{}")
            first = folder_revision(root)
            self.assertTrue(first.startswith("sha256:"))
            self.assertEqual(folder_revision(root), first)
            (root / "unet" / "config.json").write_text('{"sample_size": 32}')
            self.assertNotEqual(folder_revision(root), first)

    def test_local_folders_are_pinned_to_their_hash_without_the_hub(self):
        with tempfile.TemporaryDirectory() as d:
            folders = []
            for name in ("base", "cn", "vae"):
                (Path(d) / name).mkdir()
                (Path(d) / name / "config.json").write_text(json.dumps({"name": name}))
                folders.append(str(Path(d) / name))
            self.assertTrue(all(is_local(f) for f in folders))
            self.assertFalse(is_local("stabilityai/stable-diffusion-xl-base-1.0"))
            src = Sources(*folders)
            revs = src.resolve()  # would fail without network if it asked the hub
            self.assertEqual(revs[folders[0]], folder_revision(Path(folders[0])))
            self.assertEqual(src.load_kwargs(folders[0]), {})
            self.assertEqual(src.short(folders[0]), revs[folders[0]][7:19])
            self.assertEqual(list(src.pinned()), ["local:base", "local:cn", "local:vae"])
            with self.assertRaises(SystemExit):
                Sources(*folders, revisions={folders[1]: "sha256:0000"}).resolve()


class DryRunFromLocalConfigs(unittest.TestCase):
    def test_the_plan_comes_from_the_folder_configs(self):
        import subprocess

        from sdxl_bundle.layout import SDXL_TEXT_ENCODER_2_CONFIG, SDXL_TEXT_ENCODER_CONFIG, SDXL_UNET_CONFIG, SDXL_VAE_CONFIG

        with tempfile.TemporaryDirectory() as d:
            base, vae = Path(d) / "base", Path(d) / "vae"
            unet = dict(SDXL_UNET_CONFIG, block_out_channels=[32, 64, 96], attention_head_dim=[1, 2, 3], cross_attention_dim=80)
            files = {
                base / "unet" / "config.json": unet,
                base / "text_encoder" / "config.json": dict(SDXL_TEXT_ENCODER_CONFIG, hidden_size=32, num_hidden_layers=2),
                base / "text_encoder_2" / "config.json": dict(SDXL_TEXT_ENCODER_2_CONFIG, hidden_size=48, projection_dim=40),
                base / "scheduler" / "scheduler_config.json": {},
                base / "tokenizer" / "tokenizer_config.json": {"model_max_length": 77},
                vae / "config.json": SDXL_VAE_CONFIG,
            }
            for path, cfg in files.items():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(cfg))
            tool = Path(__file__).resolve().parents[1]
            r = subprocess.run([sys.executable, "build_bundle.py", "--dry-run", "--out", "x", "--dtype", "float32", "--base", str(base),
                                "--vae", str(vae)], capture_output=True, text=True, cwd=tool, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("hidden_states.2                    float32  [b, 77, 32]", r.stdout)
            self.assertNotIn("hidden_states.3 ", r.stdout.split("text_encoder_2/model.onnx")[0])
            self.assertIn("text_embeds                        float32  [B, 40]", r.stdout)
            self.assertIn("mid_block_additional_residual      float32  [B, 96, h/4, w/4]", r.stdout)


if __name__ == "__main__":
    unittest.main()
