"""The bundle content hash (pure, stdlib only).

The rule is the toy-world builder's `bundleHash` (gpu-runner/src/toyworld/bundle.ts), written
down in docs/sdxl-bundle.md ("Content hash"):

    files   = every regular file under the bundle folder except the top-level `bundle.json`,
              named by its path relative to the folder with `/` separators
    order   = JavaScript's default string sort of those paths (UTF-16 code units)
    hash    = "sha256:" + hex(sha256( for each file in order:
                                       utf8(path) + "\\n" + hex(sha256(bytes of file)) + "\\n" ))

`gpu-runner/src/models/sdxlContract.test.ts` checks this implementation against `bundleHash` on
the generated toy world and on awkward file names.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

BUNDLE_JSON = "bundle.json"
CHUNK = 8 << 20


def js_sort_key(path: str) -> bytes:
    """Sorts like JavaScript's `Array.prototype.sort()` on strings: by UTF-16 code units.

    Python compares code points, which differs for characters above U+FFFF (surrogate pairs sort
    before U+E000..U+FFFF in UTF-16); big-endian UTF-16 bytes compare exactly like code units.
    """
    return path.encode("utf-16-be", "surrogatepass")


def bundle_files(root: Path) -> list:
    """Relative paths (with `/`) of the files the hash covers, in hash order."""
    root = Path(root)
    paths = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]:
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            if full.is_symlink():
                raise ValueError(f"{rel}: symbolic links are not allowed in a bundle (copy the file)")
            if not full.is_file():
                raise ValueError(f"{rel}: not a regular file")
            if rel != BUNDLE_JSON:
                paths.append(rel)
    return sorted(paths, key=js_sort_key)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                return h.hexdigest()
            h.update(chunk)


def hash_entries(entries) -> str:
    """The hash of (relative path, sha256 hex) pairs; sorts them and skips `bundle.json` itself."""
    outer = hashlib.sha256()
    for path, digest in sorted(((p, d) for p, d in entries if p != BUNDLE_JSON), key=lambda e: js_sort_key(e[0])):
        outer.update(f"{path}\n{digest}\n".encode("utf-8"))
    return "sha256:" + outer.hexdigest()


def bundle_hash(root: Path, progress=None) -> str:
    """The content hash of the bundle folder `root` (streams files; an SDXL bundle is ~7 GB)."""
    entries = []
    for rel in bundle_files(root):
        if progress:
            progress(rel)
        entries.append((rel, file_sha256(Path(root) / rel)))
    return hash_entries(entries)


def folder_revision(root: Path) -> str:
    """The revision of a local model folder: the same hash rule over every regular file in it
    (a `bundle.json` included, symbolic links followed), so that any change of a config or weight
    file changes the bundle's recorded source and version."""
    root = Path(root)
    entries = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith("."):
                continue
            full = Path(dirpath) / name
            entries.append((full.relative_to(root).as_posix(), file_sha256(full)))
    if not entries:
        raise ValueError(f"{root}: no files")
    outer = hashlib.sha256()
    for path, digest in sorted(entries, key=lambda e: js_sort_key(e[0])):
        outer.update(f"{path}\n{digest}\n".encode("utf-8"))
    return "sha256:" + outer.hexdigest()
