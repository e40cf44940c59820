"""Comparing an exported model's declared inputs/outputs with the export plan (pure).

`export_onnx.onnx_signature` reads the ONNX graph into the plain form used here:
{"inputs": [(name, dtype, dims)], "outputs": [...]}, dims holding ints for fixed dimensions and
strings (the dim_param, possibly "") for symbolic ones. Checking right after each export means a
wrong bundle never gets as far as `accdiff bundle check`.
"""

from __future__ import annotations

from .contract import ExportSignature

ONNX_ELEM_TYPES = {1: "float32", 6: "int32", 7: "int64", 10: "float16", 11: "float64"}


def signature_problems(plan: ExportSignature, found: dict) -> list:
    where = f"{plan.component}/model.onnx"
    problems = []
    for io, expected in (("input", plan.inputs), ("output", plan.outputs)):
        actual = {name: (dtype, tuple(dims)) for name, dtype, dims in found[f"{io}s"]}
        names = [t.name for t in expected]
        for extra in sorted(set(actual) - set(names)):
            problems.append(f"{where}: unexpected {io} '{extra}'")
        for t in expected:
            if t.name not in actual:
                problems.append(f"{where}: missing {io} '{t.name}'")
                continue
            dtype, dims = actual[t.name]
            if dtype != t.dtype:
                problems.append(f"{where}: {io} '{t.name}': element type {dtype}, planned {t.dtype}")
            if len(dims) != len(t.dims):
                problems.append(f"{where}: {io} '{t.name}': rank {len(dims)} {list(dims)}, planned {list(t.dims)}")
                continue
            for i, (f, e) in enumerate(zip(dims, t.dims)):
                if isinstance(e, int) and f != e:
                    problems.append(f"{where}: {io} '{t.name}' dim {i}: {f!r}, planned {e}")
                if isinstance(e, str) and isinstance(f, int):
                    problems.append(f"{where}: {io} '{t.name}' dim {i} ({e}): fixed {f}, must be dynamic")
    return problems
