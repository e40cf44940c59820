import hashlib
import os
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sdxl_bundle.hashing import bundle_files, bundle_hash, hash_entries, js_sort_key  # noqa: E402


def write(root: Path, files: dict) -> None:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


class Hash(unittest.TestCase):
    def test_the_documented_rule(self):
        files = {"b.txt": b"second", "a/x.onnx": b"\x00\x01", "bundle.json": b"{}"}
        with tempfile.TemporaryDirectory() as d:
            write(Path(d), files)
            outer = hashlib.sha256()
            for rel in ["a/x.onnx", "b.txt"]:
                outer.update(f"{rel}\n{hashlib.sha256(files[rel]).hexdigest()}\n".encode())
            self.assertEqual(bundle_hash(Path(d)), "sha256:" + outer.hexdigest())

    def test_empty_bundle(self):
        with tempfile.TemporaryDirectory() as d:
            self.assertEqual(bundle_hash(Path(d)), "sha256:" + hashlib.sha256(b"").hexdigest())

    def test_bundle_json_excluded_only_at_top_level(self):
        with tempfile.TemporaryDirectory() as d:
            write(Path(d), {"bundle.json": b"1", "sub/bundle.json": b"2", "z": b""})
            self.assertEqual(bundle_files(Path(d)), ["sub/bundle.json", "z"])
            before = bundle_hash(Path(d))
            (Path(d) / "bundle.json").write_bytes(b"changed")
            self.assertEqual(bundle_hash(Path(d)), before)

    def test_content_and_names_matter(self):
        with tempfile.TemporaryDirectory() as d:
            write(Path(d), {"unet/model.onnx": b"abc"})
            h1 = bundle_hash(Path(d))
            (Path(d) / "unet/model.onnx").write_bytes(b"abd")
            h2 = bundle_hash(Path(d))
            os.rename(Path(d) / "unet", Path(d) / "unet2")
            h3 = bundle_hash(Path(d))
            self.assertEqual(len({h1, h2, h3}), 3)

    def test_javascript_sort_order(self):
        # UTF-16 code units: an astral character (surrogate pair D83D ...) sorts before U+FF01,
        # while Python's code-point order puts it after.
        names = ["\uff01", "\U0001f600", "B", "a", "a/b", "a.b", "a-b"]
        self.assertEqual(sorted(names, key=js_sort_key), ["B", "a", "a-b", "a.b", "a/b", "\U0001f600", "\uff01"])
        self.assertNotEqual(sorted(names), sorted(names, key=js_sort_key))

    def test_hash_entries_sorts_itself(self):
        e = [("b", "1" * 64), ("a", "2" * 64)]
        self.assertEqual(hash_entries(e), hash_entries(list(reversed(e))))
        self.assertEqual(hash_entries(e + [("bundle.json", "3" * 64)]), hash_entries(e))

    @unittest.skipIf(os.name == "nt", "symlinks")
    def test_symlinks_are_refused(self):
        with tempfile.TemporaryDirectory() as d:
            write(Path(d), {"real": b"x"})
            os.symlink(Path(d) / "real", Path(d) / "link")
            with self.assertRaises(ValueError):
                bundle_files(Path(d))


if __name__ == "__main__":
    unittest.main()
