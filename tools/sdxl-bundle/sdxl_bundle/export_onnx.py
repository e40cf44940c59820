"""torch.onnx.export of one wrapped component into `<bundle>/<component>/model.onnx` (needs torch, onnx).

torch 2.1's exporter writes models over 2 GiB as one external file per initializer; we trace
into a scratch folder, then re-save the model with all weights in one `model.onnx_data` beside
`model.onnx` (the layout onnxruntime and docs/model-bundle.md expect), check it with
`onnx.checker`, and compare its declared signature with the plan.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .signature import ONNX_ELEM_TYPES, signature_problems

OPSET = 17
EXTERNAL_DATA_FILE = "model.onnx_data"
# Protobuf cannot serialise a message over 2 GiB; stay well below it.
SINGLE_FILE_LIMIT = 1_800_000_000


def onnx_signature(path: Path) -> dict:
    """{"inputs"/"outputs": [(name, dtype, dims)]} from the graph, without loading the weights."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)

    def values(vs):
        out = []
        for v in vs:
            t = v.type.tensor_type
            dims = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in t.shape.dim]
            out.append((v.name, ONNX_ELEM_TYPES.get(t.elem_type, f"elem_type {t.elem_type}"), dims))
        return out

    return {"inputs": values(model.graph.input), "outputs": values(model.graph.output)}


def apply_planned_output_shapes(model, plan) -> None:
    """Declares every output's shape as planned, where the exporter's shape inference lost it.

    torch's exporter sometimes leaves a fixed dimension symbolic on an output (e.g. the token axis
    of `attention_probs` after a reshape with dynamic sizes); the runner needs fixed numbers where
    the contract has them (it builds zero residuals from the channel counts). A dimension the
    exporter declared as a different fixed number is left alone, for the signature check to report;
    the smoke check compares the actual output shapes with PyTorch's.
    """
    planned = {t.name: t.dims for t in plan.outputs}
    for out in model.graph.output:
        dims = planned.get(out.name)
        shape = out.type.tensor_type.shape
        if dims is None or len(shape.dim) != len(dims):
            continue
        for d, want in zip(shape.dim, dims):
            if isinstance(want, int) and not d.HasField("dim_value"):
                d.dim_value = want
            elif isinstance(want, str) and not d.HasField("dim_value"):
                d.dim_param = want


def export_component(module, args: tuple, plan, out_dir: Path, log=print) -> Path:
    """Traces `module(*args)` and writes `out_dir/model.onnx` (+ `model.onnx_data` when large)."""
    import onnx
    import torch

    out_dir = Path(out_dir)
    scratch = out_dir.parent / f".{out_dir.name}.export"
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.rmtree(out_dir, ignore_errors=True)
    scratch.mkdir(parents=True)
    traced = scratch / "model.onnx"
    module.eval()
    with torch.no_grad():
        torch.onnx.export(
            module,
            args,
            str(traced),
            input_names=plan.input_names,
            output_names=plan.output_names,
            dynamic_axes=plan.dynamic_axes(),
            opset_version=OPSET,
            do_constant_folding=True,
        )
    model = onnx.load(str(traced))  # pulls any per-tensor external files in
    apply_planned_output_shapes(model, plan)
    weight_bytes = sum(t.ByteSize() for t in model.graph.initializer)
    external = weight_bytes > SINGLE_FILE_LIMIT
    out_dir.mkdir(parents=True)
    target = out_dir / "model.onnx"
    onnx.save_model(
        model,
        str(target),
        save_as_external_data=external,
        all_tensors_to_one_file=True,
        location=EXTERNAL_DATA_FILE,
        size_threshold=1024,
    )
    del model
    shutil.rmtree(scratch)
    onnx.checker.check_model(str(target))
    problems = signature_problems(plan, onnx_signature(target))
    if problems:
        raise RuntimeError("exported model does not match the plan:\n  " + "\n  ".join(problems))
    log(f"  wrote {target} ({weight_bytes / 2**30:.2f} GiB of weights{', external data' if external else ''})")
    return target
