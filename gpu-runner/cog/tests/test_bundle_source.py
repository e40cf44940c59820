"""bundle_source.prepare_bundle: a mounted folder as it is, an archive (path or URL) extracted once, unsafe archives refused."""

import io
import json
import os
import sys
import tarfile
import tempfile
import threading
import unittest
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *_args):
        pass

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bundle_source import BundleError, prepare_bundle  # noqa: E402


def make_archive(path: str, members: dict) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


class PrepareBundle(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        os.environ["ACCDIFF_BUNDLE_CACHE"] = os.path.join(self.tmp.name, "cache")
        self.addCleanup(os.environ.pop, "ACCDIFF_BUNDLE_CACHE", None)
        saved = {k: os.environ.pop(k) for k in ("BUNDLE_URL", "BUNDLE_DIR") if k in os.environ}
        self.addCleanup(os.environ.update, saved)
        self.manifest = json.dumps({"name": "b", "hash": "h"}).encode()

    def test_none_means_the_toy_world(self):
        self.assertIsNone(prepare_bundle(None))

    def test_a_folder_is_used_in_place(self):
        folder = os.path.join(self.tmp.name, "mounted")
        os.makedirs(folder)
        with open(os.path.join(folder, "bundle.json"), "wb") as f:
            f.write(self.manifest)
        self.assertEqual(prepare_bundle(folder), folder)

    def test_an_archive_by_url_is_downloaded_and_extracted_once(self):
        site = os.path.join(self.tmp.name, "site")
        os.makedirs(site)
        make_archive(os.path.join(site, "bundle.tar.gz"), {"sdxl/bundle.json": self.manifest, "sdxl/unet/model.onnx": b"x"})
        server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=site))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        url = f"http://127.0.0.1:{server.server_address[1]}/bundle.tar.gz"
        root = prepare_bundle(url)
        self.assertTrue(root.endswith(os.path.join("cache", "sdxl")))
        with open(os.path.join(root, "unet", "model.onnx"), "rb") as f:
            self.assertEqual(f.read(), b"x")
        os.remove(os.path.join(site, "bundle.tar.gz"))
        self.assertEqual(prepare_bundle(url), root)  # cached: not downloaded again

    def test_unsafe_or_bundle_less_archives_are_refused(self):
        bad = os.path.join(self.tmp.name, "bad.tar.gz")
        make_archive(bad, {"../escape/bundle.json": self.manifest})
        with self.assertRaises((BundleError, tarfile.TarError)):
            prepare_bundle(bad)
        empty = os.path.join(self.tmp.name, "empty.tar.gz")
        make_archive(empty, {"readme.txt": b"no bundle here"})
        with self.assertRaisesRegex(BundleError, "no bundle.json"):
            prepare_bundle(empty)


if __name__ == "__main__":
    unittest.main()
