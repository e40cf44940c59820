"""The model bundle the runner loads: a folder, or a .tar/.tar.gz of one (a URL or a path), extracted once."""

import os
import shutil
import tarfile
import tempfile
import urllib.parse
import urllib.request
from typing import Optional


class BundleError(RuntimeError):
    pass


def _bundle_root(folder: str) -> str:
    """The folder holding bundle.json inside an extracted archive (at its top or one level down)."""
    if os.path.isfile(os.path.join(folder, "bundle.json")):
        return folder
    for entry in sorted(os.listdir(folder)):
        sub = os.path.join(folder, entry)
        if os.path.isfile(os.path.join(sub, "bundle.json")):
            return sub
    raise BundleError(f"no bundle.json in {folder}")


def prepare_bundle(weights) -> Optional[str]:
    """A local bundle folder from `weights` / BUNDLE_URL / BUNDLE_DIR, or None for the runner's toy world."""
    source = str(weights) if weights else os.environ.get("BUNDLE_URL") or os.environ.get("BUNDLE_DIR") or ""
    if not source:
        return None
    if os.path.isdir(source):
        return _bundle_root(source)
    target = os.environ.get("ACCDIFF_BUNDLE_CACHE") or os.path.join(tempfile.gettempdir(), "accdiff-bundle")
    if os.path.isfile(os.path.join(target, ".complete")):
        return _bundle_root(target)
    shutil.rmtree(target, ignore_errors=True)
    os.makedirs(target)
    archive = source
    if urllib.parse.urlsplit(source).scheme in ("http", "https"):
        archive = os.path.join(target, ".download")
        print(f"bundle: downloading {urllib.parse.urlsplit(source).netloc}...", flush=True)
        with urllib.request.urlopen(source, timeout=60) as res, open(archive, "wb") as f:
            shutil.copyfileobj(res, f, 1 << 20)
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(target, filter="data")
        else:  # Python < 3.11.4: refuse what the data filter would
            for m in tar.getmembers():
                if m.name.startswith("/") or ".." in m.name.split("/") or m.issym() or m.islnk():
                    raise BundleError(f"unsafe path in the bundle archive: {m.name}")
            tar.extractall(target)
    if archive != source:
        os.remove(archive)
    open(os.path.join(target, ".complete"), "w").close()
    return _bundle_root(target)
