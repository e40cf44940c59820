"""The numerical smoke check (needs torch, numpy; onnxruntime and tokenizers where installed).

While exporting, each step runs its PyTorch model on small seeded inputs and saves inputs and
outputs as a "case" (`<work>/cases/<component>-<n>/`, outside the bundle, in the tensor-manifest
format of case_files.py, which the TypeScript parity test reads too). After the last export, with
every PyTorch model freed, `check_cases_with_ort` runs each case through onnxruntime (CUDA, or CPU
for a CPU build) on the exported file and compares. The UNet step also checks, in PyTorch, that
the wrapper equals the untouched diffusers UNet and that `attention_probs` equals an independent
re-implementation of the reference's AttentionStore aggregation.

Without the Python onnxruntime / tokenizers packages (Debian has neither) those two checks are
skipped with a note: the bundle is then held to the same cases by the runner's own onnxruntime
(`gpu-runner/src/realarch/`, `accdiff bundle check --smoke`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .case_files import read_cases, write_case
from .shapes import io_shapes
from .tolerances import ATTENTION_ROW_SUM, ORT_VS_TORCH, ORT_VS_TORCH_FP32, within

TEST_PROMPTS = (
    "a photo of a cat sitting on a wooden table",
    "A majestic Lion, 8k, ultra-detailed; studio lighting (cinematic), 35mm f/1.8",
    "don't stop: the robot's 3 red balloons & 2 blue kites!!",
    "a café in the naïve style",
    "a very long prompt " + "with many repeated words " * 20,
    "a cat and a dog are playing on the lawn",
    "blurry, ugly, duplicate, poorly drawn, deformed, mosaic",
    "wow!! hello! (a) [b] {c} 100% 1,000,000 3.14 #tag @user",
)


class Report:
    """Collects measured values and failures; every line is printed so thresholds can be tuned."""

    def __init__(self, log=print):
        self.log = log
        self.failures = []

    def check(self, what: str, measured: dict, limits: dict) -> bool:
        ok = all(math.isfinite(v) for v in measured.values()) and within(measured, limits)
        shown = ", ".join(f"{k} {v:.3g} (limit {limits[k]:g})" if k in limits else f"{k} {v:.3g}" for k, v in measured.items())
        self.log(f"  {'ok  ' if ok else 'FAIL'} {what}: {shown}")
        if not ok:
            self.failures.append(f"{what}: {shown}")
        return ok

    def fail(self, what: str, why: str) -> None:
        self.log(f"  FAIL {what}: {why}")
        self.failures.append(f"{what}: {why}")


def as_float64(x) -> np.ndarray:
    """numpy float64 copy of a numpy array or a torch tensor (any device, any float type)."""
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def metrics(a, b) -> dict:
    a = as_float64(a)
    b = as_float64(b)
    if a.shape != b.shape:
        raise ValueError(f"shape {a.shape} vs {b.shape}")
    d = a - b
    return {
        "rel_l2": float(np.linalg.norm(d) / max(np.linalg.norm(b), 1e-30)),
        "max_abs": float(np.abs(d).max()) if d.size else 0.0,
    }


def attention_row_check(report: Report, what: str, probs) -> None:
    p = as_float64(probs)
    if not np.isfinite(p).all():
        report.fail(what, "attention_probs has non-finite values")
        return
    report.check(f"{what} rows sum to 1", {"max_abs": float(np.abs(p.sum(-1) - 1.0).max())}, ATTENTION_ROW_SUM)


# --- seeded inputs ------------------------------------------------------------------------------

_TORCH_DTYPES = {"float16": "float16", "float32": "float32", "int32": "int32"}


def make_inputs(plan_sig, batch: int, h: int, w: int, seed: int, device, fill=None, vae_scale_factor: int = 8) -> dict:
    """Seeded inputs for a component, shapes and element types from the export plan.

    `fill(name, shape)` may return a tensor (float64 numpy) for any input; the rest is N(0, 1).
    """
    import torch

    shapes, _ = io_shapes(plan_sig, batch, h, w, vae_scale_factor)
    rng = np.random.default_rng(seed)
    out = {}
    for t in plan_sig.inputs:
        shape = shapes[t.name]
        value = fill(t.name, shape) if fill else None
        if value is None:
            value = rng.standard_normal(shape)
        out[t.name] = torch.from_numpy(np.asarray(value)).to(getattr(torch, _TORCH_DTYPES[t.dtype])).to(device)
    return out


def unet_fill(timestep: float, residual_scale: float, seed: int, base_pixels: int = 1024):
    """UNet/ControlNet inputs that look like the pipeline's: time ids of the base resolution, a real timestep, small residuals."""
    rng = np.random.default_rng(seed + 1)

    def fill(name, shape):
        if name == "timestep":
            return np.array([timestep])
        if name == "time_ids":
            b, _ = shape
            return np.tile(np.array([[base_pixels, base_pixels, 0.0, 0.0, base_pixels, base_pixels]], dtype=np.float64), (b, 1))
        if "residual" in name:
            return rng.standard_normal(shape) * residual_scale
        if name == "controlnet_cond":
            return (rng.random(shape) > 0.9).astype(np.float64)  # sparse 0/1 "edges"
        if name == "conditioning_scale":
            return np.array([0.5])
        return None

    return fill


def ids_fill(tokenizer, prompt: str):
    def fill(name, shape):
        ids = tokenizer(prompt, padding="max_length", max_length=shape[1], truncation=True).input_ids
        return np.tile(np.array([ids], dtype=np.int64), (shape[0], 1))

    return fill


# --- cases ------------------------------------------------------------------------------------


def save_case(work: Path, name: str, inputs: dict, outputs: dict) -> Path:
    return write_case(Path(work) / "cases" / name, inputs, outputs)


def _ort_session(path: Path, provider: str):
    import onnxruntime as ort

    wanted = f"{provider}ExecutionProvider"
    if wanted not in ort.get_available_providers():
        raise RuntimeError(
            f"onnxruntime has no {provider} provider (available: {ort.get_available_providers()}); install onnxruntime-gpu"
        )
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(path), opts, providers=[wanted])
    if session.get_providers()[0] != wanted:
        raise RuntimeError(f"{path}: onnxruntime fell back to {session.get_providers()}")
    return session


def tolerance_for(component: str, output: str, dtype: str) -> dict:
    table = ORT_VS_TORCH_FP32 if dtype == "float32" else ORT_VS_TORCH
    key = f"{component}.{output}"
    return table[key] if key in table else table[component]


def check_cases_with_ort(bundle: Path, work: Path, components: dict, report: Report, provider: str = "CUDA",
                         dtype: str = "float16") -> None:
    """Runs every saved case through onnxruntime on the exported model and compares."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        if provider == "CPU":
            report.log("  skip onnxruntime check: the Python onnxruntime package is not installed (the cases in "
                       f"{Path(work) / 'cases'} can be run by gpu-runner's checkExportCases)")
            return
        raise
    by_component = {}
    for name, case in read_cases(Path(work) / "cases").items():
        by_component.setdefault(name.rsplit("-", 1)[0], []).append((name, case))
    for component, cases in by_component.items():
        try:
            session = _ort_session(Path(bundle) / components[component], provider)
        except Exception as e:  # noqa: BLE001 - reported, the check goes on with the next model
            report.fail(f"{component} (onnxruntime)", str(e))
            continue
        for case_name, (feeds, expected) in cases:
            names = list(expected)
            got = dict(zip(names, session.run(names, feeds)))
            for name in names:
                m = metrics(got[name], expected[name])
                report.check(f"onnx vs torch {case_name} {name}", m, tolerance_for(component, name, dtype))
                if name == "attention_probs":
                    attention_row_check(report, f"onnx {case_name}", got[name])
        del session


def check_tokenizers(bundle: Path, report: Report, max_tokens: int = 77) -> None:
    """tokenizer.json (what the runner loads) against the slow CLIPTokenizer (what the reference uses).

    The runner truncates itself: ids = [BOS] + tokens[:T-2] + [EOS]; that rule is applied to the
    fast tokenizer's tokens here, so the comparison covers it too.
    """
    try:
        from tokenizers import Tokenizer
    except ImportError:
        report.log("  skip tokenizer.json check: the tokenizers package is not installed (gpu-runner's real-arch "
                   "test compares the runner's tokenizer with CLIPTokenizer)")
        return
    from transformers import CLIPTokenizer

    for which in ("tokenizer", "tokenizer_2"):
        slow = CLIPTokenizer.from_pretrained(str(Path(bundle) / which))
        fast = Tokenizer.from_file(str(Path(bundle) / which / "tokenizer.json"))
        bad = []
        for prompt in TEST_PROMPTS:
            want = slow(prompt, truncation=True, max_length=max_tokens).input_ids
            ids = fast.encode(prompt).ids
            tokens = ids[1:-1]
            got = [ids[0], *tokens[: max_tokens - 2], ids[-1]]
            if got != want:
                bad.append(prompt[:40])
        if bad:
            report.fail(f"{which}/tokenizer.json", f"ids differ from CLIPTokenizer for: {bad}")
        else:
            report.log(f"  ok   {which}/tokenizer.json: same ids as CLIPTokenizer on {len(TEST_PROMPTS)} prompts")
