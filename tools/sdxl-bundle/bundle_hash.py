#!/usr/bin/env python3
"""Prints the content hash of a bundle folder (stdlib only): `python3 bundle_hash.py DIR`.

The rule is sdxl_bundle/hashing.py's (the toy world's `bundleHash`); use it to re-hash a bundle
after changing a file by hand, then put the value into bundle.json's "hash".
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sdxl_bundle.hashing import bundle_hash  # noqa: E402

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: bundle_hash.py BUNDLE_DIR")
    print(bundle_hash(Path(sys.argv[1])))
