"""The command-line entry points, and that the pure modules import without PyTorch & co."""

import json
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TOOL))

from sdxl_bundle.hashing import bundle_hash  # noqa: E402

PURE = ["sdxl_bundle", "sdxl_bundle.contract", "sdxl_bundle.layout", "sdxl_bundle.attention_layers", "sdxl_bundle.shapes",
        "sdxl_bundle.bundle_json", "sdxl_bundle.hashing", "sdxl_bundle.signature", "sdxl_bundle.tolerances",
        "sdxl_bundle.clip_tokenizer_json"]
HEAVY = ["torch", "diffusers", "transformers", "onnx", "onnxruntime", "numpy", "huggingface_hub", "tokenizers"]


def run(*args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=TOOL, timeout=120)


class Tools(unittest.TestCase):
    def test_pure_modules_and_the_cli_import_without_heavy_packages(self):
        block = "; ".join(f"sys.modules[{m!r}] = None" for m in HEAVY)  # `import torch` now raises
        imports = "; ".join(f"importlib.import_module({m!r})" for m in PURE)
        code = f"import sys, importlib; {block}; sys.path.insert(0, '.'); {imports}; import build_bundle; build_bundle.parse_args(['--out', 'x'])"
        r = run("-c", code)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_dry_run_prints_every_component(self):
        r = run("build_bundle.py", "--dry-run", "--out", "/nonexistent/bundle")
        self.assertEqual(r.returncode, 0, r.stderr)
        for c in ("text_encoder", "text_encoder_2", "unet", "controlnet", "vae_decoder", "vae_encoder"):
            self.assertIn(f"{c}/model.onnx", r.stdout)
        self.assertIn("attention_probs                    float32  [B, N, 77]", r.stdout)
        self.assertIn("1000 (layer, head) pairs of 50 cross-attention layers", r.stdout)
        self.assertFalse(Path("/nonexistent/bundle").exists())

    def test_contract_table_json(self):
        r = run("contract_table.py")
        self.assertEqual(r.returncode, 0, r.stderr)
        t = json.loads(r.stdout)
        self.assertEqual(set(t), {"contract", "sdxlExport", "sdxlDims", "attentionLayers", "exampleBundleJson"})
        self.assertEqual(t["sdxlDims"]["residualFactors"], [1, 1, 1, 2, 2, 2, 4, 4, 4])
        self.assertEqual(len(t["attentionLayers"]), 50)

    def test_bundle_hash_cli(self):
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / "tokenizer").mkdir()
            (Path(d) / "tokenizer" / "vocab.json").write_text("{}")
            r = run("bundle_hash.py", d)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.strip(), bundle_hash(Path(d)))
        self.assertNotEqual(run("bundle_hash.py").returncode, 0)

    def test_an_existing_bundle_is_kept_with_if_missing(self):
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / "bundle.json").write_text("{}")
            r = run("build_bundle.py", "--out", d, "--if-missing")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("nothing to do", r.stdout)


if __name__ == "__main__":
    unittest.main()


class PrepareOut(unittest.TestCase):
    def setUp(self):
        import build_bundle

        self.bb = build_bundle

    def test_an_unfinished_build_is_cleared_with_if_missing(self):
        with tempfile.TemporaryDirectory() as d:
            out = Path(d)
            (out / "unet").mkdir()
            (out / "unet" / "model.onnx").write_bytes(b"x")
            (out / ".controlnet.export").mkdir()
            (out / "build-info.json").write_text("{}")
            self.assertEqual(self.bb.foreign_entries(out), [])
            self.bb.prepare_out(out, force=False, if_missing=True)
            self.assertEqual(list(out.iterdir()), [])

    def test_foreign_files_are_kept_unless_forced(self):
        with tempfile.TemporaryDirectory() as d:
            out = Path(d)
            (out / "tokenizer").mkdir()
            (out / "my-photos").mkdir()
            self.assertEqual(self.bb.foreign_entries(out), ["my-photos"])
            with self.assertRaises(SystemExit):
                self.bb.prepare_out(out, force=False, if_missing=True)
            with self.assertRaises(SystemExit):
                self.bb.prepare_out(out, force=False, if_missing=False)
            self.assertTrue((out / "my-photos").exists())
            self.bb.prepare_out(out, force=True, if_missing=False)
            self.assertEqual(list(out.iterdir()), [])

    def test_a_new_folder_is_created(self):
        with tempfile.TemporaryDirectory() as d:
            out = Path(d) / "a" / "b"
            self.bb.prepare_out(out, force=False, if_missing=False)
            self.assertTrue(out.is_dir())


class VersionPolicy(unittest.TestCase):
    def setUp(self):
        import build_bundle

        self.bb = build_bundle

    def test_torch_releases_are_read_from_any_version_string(self):
        self.assertEqual(self.bb.torch_release("2.1.2+cu118"), (2, 1))
        self.assertEqual(self.bb.torch_release("1.13.0a0"), (1, 13))
        self.assertEqual(self.bb.torch_release("1.13.1+dfsg"), (1, 13))

    def test_debian_torch_is_enough_for_fp32_only(self):
        self.assertGreaterEqual(self.bb.torch_release("1.13.0a0"), self.bb.MIN_TORCH["float32"])
        self.assertLess(self.bb.torch_release("1.13.0a0"), self.bb.MIN_TORCH["float16"])

    def test_fp16_on_a_cpu_is_refused_with_the_reason(self):
        with self.assertRaises(SystemExit) as e:
            self.bb.check_device("cpu", "float16")
        self.assertIn("--dtype float32", str(e.exception))
        self.bb.check_device("cpu", "float32")
        self.bb.check_device("cuda", "float16")

    def test_cpu_fp32_options_parse(self):
        a = self.bb.parse_args(["--out", "x", "--device", "cpu", "--dtype", "float32", "--base", "/m/tiny", "--name", "t"])
        self.assertEqual((a.device, a.dtype, a.base, a.name), ("cpu", "float32", "/m/tiny", "t"))
        self.assertEqual(self.bb.parse_args(["--out", "x"]).dtype, "float16")
