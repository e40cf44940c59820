"""Smoke-check cases on disk (needs numpy): one folder per case, in the tensor-manifest format.

The format is `../shared/real-arch/reference`'s: `manifest.json` = `{"tensors": {name: {"shape",
"dtype", "file"}}, "meta": {...}}`, each file the raw little-endian array in C order. A case's
tensors are named `in/<input>` (what the model is fed) and `out/<output>` (what PyTorch computed);
`meta.component` names the bundle component. The runner's TypeScript side reads the same files
(`gpu-runner/src/realarch/exportCases.ts`) and runs them through its own onnxruntime.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

DTYPES = {"float32": np.float32, "float16": np.float16, "int32": np.int32, "int64": np.int64}


def _array(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    a = np.ascontiguousarray(x)
    if a.dtype == np.float64:
        a = a.astype(np.float32)
    if a.dtype.name not in DTYPES:
        raise TypeError(f"case tensor of type {a.dtype} (only {', '.join(DTYPES)})")
    return a


def write_tensors(folder: Path, tensors: dict, meta: dict | None = None) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"tensors": {}, "meta": dict(meta or {})}
    for name, value in tensors.items():
        a = _array(value)
        file = name.replace("/", "__").replace(".", "_") + ".bin"
        a.astype(a.dtype.newbyteorder("<"), copy=False).tofile(folder / file)
        manifest["tensors"][name] = {"shape": list(a.shape), "dtype": a.dtype.name, "file": file}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return folder


def read_tensors(folder: Path) -> tuple:
    folder = Path(folder)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    out = {}
    for name, t in manifest["tensors"].items():
        dtype = np.dtype(DTYPES[t["dtype"]]).newbyteorder("<")
        out[name] = np.fromfile(folder / t["file"], dtype=dtype).reshape(t["shape"])
    return out, manifest.get("meta", {})


def write_case(folder: Path, inputs: dict, outputs: dict) -> Path:
    folder = Path(folder)
    tensors = {f"in/{k}": v for k, v in inputs.items()}
    tensors.update({f"out/{k}": v.detach().float() if hasattr(v, "detach") else v for k, v in outputs.items()})
    return write_tensors(folder, tensors, {"component": folder.name.rsplit("-", 1)[0], "case": folder.name})


def read_cases(cases: Path) -> dict:
    """{case name: (inputs, expected outputs)} of every case folder under `cases`, sorted by name."""
    out = {}
    for folder in sorted(p for p in Path(cases).iterdir() if (p / "manifest.json").is_file()):
        tensors, _ = read_tensors(folder)
        inputs = {k[3:]: v for k, v in tensors.items() if k.startswith("in/")}
        expected = {k[4:]: v for k, v in tensors.items() if k.startswith("out/")}
        out[folder.name] = (inputs, expected)
    return out
