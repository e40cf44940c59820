"""Builds an `accdiff-bundle/1` model bundle (docs/model-bundle.md) from the public SDXL weights.

Pure modules (no third-party imports; unit-tested in CI without PyTorch):
  contract, layout, attention_layers, shapes, bundle_json, hashing, signature, tolerances.
Modules that need PyTorch / diffusers / onnx / onnxruntime are imported only from inside the
functions of `build_bundle.py` that use them:
  torch_attention, wrappers, export_onnx, sources, smoke.
"""

TOOL_VERSION = "accdiff-sdxl-export/1"
