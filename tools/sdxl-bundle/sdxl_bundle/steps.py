"""The export steps, one model at a time (needs torch, diffusers 0.21.4, transformers, onnx).

Each step loads one model, runs its PyTorch checks, saves smoke-check cases, exports, and frees
the model before the next step, so the GPU holds one model at a time (the UNet, ~5 GB, is the
largest). `build_bundle.py` runs `STEPS` in order; a new component is one more `Step` there.

Sizes come from the configs: the cases run at the UNet's own sample size (the base resolution)
and at an odd size, with time ids of the base resolution.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from . import sources
from .attention_layers import attention_pixels, expected_selection, place_in_unet, select_attention_layers
from .export_onnx import export_component
from .layout import attention_layers, base_resolution, vae_scale_factor
from .shapes import ODD_LATENT, TEXT_TRACE_BATCH, TRACE_LATENT, UNET_TRACE_BATCH, VAE_TRACE_LATENT
from .smoke import (
    TEST_PROMPTS,
    Report,
    attention_row_check,
    ids_fill,
    make_inputs,
    metrics,
    save_case,
    unet_fill,
)
from .tolerances import ATTENTION_VS_REFERENCE_STORE, WRAPPER_VS_DIFFUSERS
from .torch_attention import ReferenceStyleStore, install_processors, probe_listener
from .wrappers import (
    ControlNetExport,
    TextEncoderExport,
    UNetExport,
    VaeDecoderExport,
    VaeEncoderExport,
)

TORCH_DTYPE = {"float16": torch.float16, "float32": torch.float32}


@dataclass
class Context:
    src: sources.Sources
    plan: dict  # component -> ExportSignature
    bundle: Path
    work: Path
    device: str
    report: Report
    components: dict  # component -> relative model path
    log: object = print
    dtype: str = "float16"  # float element type of the export (and of the PyTorch models)
    vae_dtype: str = "float16"
    configs: dict = field(default_factory=dict)  # sources.configs()
    attention_layers: list = field(default_factory=list)  # filled by the UNet step

    @property
    def torch_dtype(self):
        return TORCH_DTYPE[self.dtype]

    @property
    def vae_factor(self) -> int:
        return vae_scale_factor(self.configs["vae"])

    @property
    def base_latent(self) -> int:
        """The UNet's sample size: phase 1's latent side, the window of every upscaling view."""
        return int(self.configs["unet"]["sample_size"])

    @property
    def base_pixels(self) -> int:
        return base_resolution(self.configs["unet"], self.vae_factor)

    def inputs(self, component: str, batch: int, h: int, w: int, seed: int, fill=None) -> dict:
        return make_inputs(self.plan[component], batch, h, w, seed=seed, device=self.device, fill=fill,
                           vae_scale_factor=self.vae_factor)

    def unet_fill(self, timestep: float, residual_scale: float, seed: int):
        return unet_fill(timestep, residual_scale, seed, self.base_pixels)


def _release_gpu() -> None:
    """Returns the freed model's memory to the driver (callers `del` their references first)."""
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _args(sig, inputs: dict) -> tuple:
    return tuple(inputs[n] for n in sig.input_names)


def _named(sig, outputs) -> dict:
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    if len(outputs) != len(sig.outputs):
        raise RuntimeError(f"{sig.component}: wrapper returned {len(outputs)} outputs, plan has {len(sig.outputs)}")
    return dict(zip(sig.output_names, outputs))


def _target(ctx: Context, component: str) -> Path:
    return ctx.bundle / Path(ctx.components[component]).parent


def export_tokenizers(ctx: Context) -> None:
    from transformers import CLIPTokenizer

    ids = {"prompts": list(TEST_PROMPTS)}
    for which in ("tokenizer", "tokenizer_2"):
        dest = sources.copy_tokenizer(ctx.src, which, ctx.bundle / ctx.components[which])
        ctx.log(f"  wrote {dest}/ ({', '.join(sorted(p.name for p in dest.iterdir()))})")
        # The slow tokenizer's ids as the pipeline asks for them, for checks of tokenizer.json elsewhere.
        slow = CLIPTokenizer.from_pretrained(str(dest))
        ids[which] = [slow(p, padding="max_length", max_length=slow.model_max_length, truncation=True).input_ids for p in TEST_PROMPTS]
    ctx.work.mkdir(parents=True, exist_ok=True)
    (ctx.work / "tokenizer_ids.json").write_text(json.dumps(ids, ensure_ascii=False) + "\n", encoding="utf-8")


def export_text_encoders(ctx: Context) -> None:
    from transformers import CLIPTokenizer

    for which in ("text_encoder", "text_encoder_2"):
        sig = ctx.plan[which]
        tok = CLIPTokenizer.from_pretrained(str(ctx.bundle / ctx.components["tokenizer" if which == "text_encoder" else "tokenizer_2"]))
        model = sources.load_text_encoder(ctx.src, which, ctx.torch_dtype, ctx.device)
        wrapper = TextEncoderExport(model, with_projection=which == "text_encoder_2")
        case = ctx.inputs(which, TEXT_TRACE_BATCH, 1, 1, seed=10, fill=ids_fill(tok, "a photo of a cat"))
        with torch.no_grad():
            out = _named(sig, wrapper(*_args(sig, case)))
        save_case(ctx.work, f"{which}-0", case, out)
        export_component(wrapper, _args(sig, case), sig, _target(ctx, which), log=ctx.log)
        del wrapper, model
        _release_gpu()


def _plain_unet(unet, x: dict, residuals: bool):
    down = [x[f"down_block_additional_residual_{k}"] for k in range(9)] if residuals else None
    return unet(
        x["sample"],
        x["timestep"],
        encoder_hidden_states=x["encoder_hidden_states"],
        added_cond_kwargs={"text_embeds": x["text_embeds"], "time_ids": x["time_ids"]},
        down_block_additional_residuals=down,
        mid_block_additional_residual=x["mid_block_additional_residual"] if residuals else None,
        return_dict=False,
    )[0]


def _probe_selection(ctx: Context, unet, unet_cfg: dict, sig) -> list:
    """Runs the UNet once, logging every attention call, and applies the reference's selection rule.

    The result must equal the rule applied to the config-derived layout, and every layer of the
    layout must have been called with the resolution and cross/self kind the layout says.
    """
    layout = {l.name: l for l in attention_layers(unet_cfg)}
    calls = []
    install_processors(unet, lambda name: probe_listener(calls))
    h, w = TRACE_LATENT
    x = ctx.inputs("unet", 1, h, w, seed=11, fill=ctx.unet_fill(999.0, 0.0, 11))
    with torch.no_grad():
        _plain_unet(unet, x, residuals=False)
    seen = {c.name: c for c in calls}
    if set(seen) != set(layout):
        raise RuntimeError(f"attention layers called {sorted(set(seen) ^ set(layout))[:5]}... differ from the config layout")
    for name, c in seen.items():
        l = layout[name]
        if c.is_cross != l.is_cross or c.seq_len != attention_pixels(h, w, l.factor) or place_in_unet(name) != l.place:
            raise RuntimeError(f"{name}: called as {c}, layout says {l}")
    selected = select_attention_layers(calls, h, w)
    if sorted(selected) != sorted(expected_selection(layout.values())):
        raise RuntimeError("probed attention selection differs from the config layout's")
    heads = sorted({layout[n].heads for n in selected})
    ctx.log(f"  attention_probs: {len(selected)} cross-attention layers ({heads} heads) at latent/4 in down+up blocks")
    return selected


def export_unet(ctx: Context) -> list:
    unet_cfg = ctx.configs["unet"]
    sig = ctx.plan["unet"]
    unet = sources.load_unet(ctx.src, ctx.torch_dtype, ctx.device)
    n = ctx.base_latent
    a = ctx.inputs("unet", 2, n, n, seed=1, fill=ctx.unet_fill(999.0, 0.0, 1))
    b = ctx.inputs("unet", 2, n, n, seed=2, fill=ctx.unet_fill(500.0, 0.1, 2))
    with torch.no_grad():
        plain_a = _plain_unet(unet, a, residuals=False)  # diffusers' own processors
        plain_b = _plain_unet(unet, b, residuals=True)
        selected = _probe_selection(ctx, unet, unet_cfg, sig)
        store = ReferenceStyleStore()
        install_processors(unet, store.listener_for)
        _plain_unet(unet, a, residuals=False)
        wrapper = UNetExport(unet, selected)
        out_a = _named(sig, wrapper(*_args(sig, a)))
        out_b = _named(sig, wrapper(*_args(sig, b)))
    r = ctx.report
    r.check("torch wrapper vs diffusers UNet, zero residuals", metrics(out_a["out_sample"], plain_a), WRAPPER_VS_DIFFUSERS)
    r.check("torch wrapper vs diffusers UNet, with residuals", metrics(out_b["out_sample"], plain_b), WRAPPER_VS_DIFFUSERS)
    pixels = attention_pixels(n, n, 4)
    reference_store = torch.stack([store.aggregate(row, pixels) for row in range(2)])
    for row in range(2):
        r.check(f"attention_probs row {row} vs reference-style aggregation", metrics(out_a["attention_probs"][row], reference_store[row]), ATTENTION_VS_REFERENCE_STORE)
    attention_row_check(r, "torch", out_a["attention_probs"])
    del store
    # What the exported model must reproduce: the untouched diffusers UNet's noise (without and
    # with ControlNet residuals) and the reference-style aggregation of its attention.
    save_case(ctx.work, "unet-0", a, {"out_sample": plain_a, "attention_probs": reference_store})
    save_case(ctx.work, "unet-1", b, {"out_sample": plain_b, "attention_probs": out_b["attention_probs"]})
    c = ctx.inputs("unet", 1, *ODD_LATENT, seed=3, fill=ctx.unet_fill(250.0, 0.1, 3))
    with torch.no_grad():
        save_case(ctx.work, "unet-2", c, _named(sig, wrapper(*_args(sig, c))))
    trace = ctx.inputs("unet", UNET_TRACE_BATCH, *TRACE_LATENT, seed=4, fill=ctx.unet_fill(999.0, 0.1, 4))
    export_component(wrapper, _args(sig, trace), sig, _target(ctx, "unet"), log=ctx.log)
    del wrapper, unet
    _release_gpu()
    ctx.attention_layers = selected
    return selected


def export_controlnet(ctx: Context) -> None:
    sig = ctx.plan["controlnet"]
    cn = sources.load_controlnet(ctx.src, ctx.torch_dtype, ctx.device)
    n = ctx.base_latent
    x = ctx.inputs("controlnet", 2, n, n, seed=5, fill=ctx.unet_fill(500.0, 0.0, 5))
    with torch.no_grad():
        down, mid = cn(
            x["sample"],
            x["timestep"],
            encoder_hidden_states=x["encoder_hidden_states"],
            controlnet_cond=x["controlnet_cond"],
            conditioning_scale=float(x["conditioning_scale"][0]),
            added_cond_kwargs={"text_embeds": x["text_embeds"], "time_ids": x["time_ids"]},
            return_dict=False,
        )
        wrapper = ControlNetExport(cn)
        out = _named(sig, wrapper(*_args(sig, x)))
    plain = dict(zip(sig.output_names, (*down, mid)))
    for name in sig.output_names:
        ctx.report.check(f"torch controlnet wrapper vs diffusers, {name}", metrics(out[name], plain[name]), WRAPPER_VS_DIFFUSERS)
    save_case(ctx.work, "controlnet-0", x, plain)
    y = ctx.inputs("controlnet", 1, *ODD_LATENT, seed=6, fill=ctx.unet_fill(250.0, 0.0, 6))
    with torch.no_grad():
        save_case(ctx.work, "controlnet-1", y, _named(sig, wrapper(*_args(sig, y))))
    trace = ctx.inputs("controlnet", UNET_TRACE_BATCH, *TRACE_LATENT, seed=7, fill=ctx.unet_fill(999.0, 0.0, 7))
    export_component(wrapper, _args(sig, trace), sig, _target(ctx, "controlnet"), log=ctx.log)
    del wrapper, cn, down, mid
    _release_gpu()


def export_vae(ctx: Context) -> None:
    vae = sources.load_vae(ctx.src, TORCH_DTYPE[ctx.vae_dtype], ctx.device)
    h, w = VAE_TRACE_LATENT

    def uniform(name, shape):  # an image in [-1, 1]
        return np.random.default_rng(8).uniform(-1.0, 1.0, shape)

    for component, wrapper, fill in (
        ("vae_decoder", VaeDecoderExport(vae), None),
        ("vae_encoder", VaeEncoderExport(vae), uniform),
    ):
        sig = ctx.plan[component]
        x = ctx.inputs(component, 1, h, w, seed=9, fill=fill)
        with torch.no_grad():
            out = _named(sig, wrapper(*_args(sig, x)))
        if not all(torch.isfinite(v).all() for v in out.values()):
            ctx.report.fail(f"torch {component}", "non-finite output")
        save_case(ctx.work, f"{component}-0", x, out)
        export_component(wrapper, _args(sig, x), sig, _target(ctx, component), log=ctx.log)
    del vae, wrapper
    _release_gpu()


@dataclass(frozen=True)
class Step:
    """One step of the build: `title` is logged, then `run(ctx)`."""

    name: str
    run: Callable
    describe: Callable = None

    def title(self, ctx: Context) -> str:
        return self.describe(ctx) if self.describe else self.name


# The build, in order. Each step exports the components it names into ctx.components' paths
# (build_bundle.STEP_NAMES lists the names for --dry-run; tests/test_torch_side.py keeps them equal).
STEPS = (
    Step("tokenizers", export_tokenizers),
    Step("text encoders", export_text_encoders),
    Step("unet", export_unet),
    Step("controlnet", export_controlnet),
    Step("vae", export_vae, lambda ctx: f"vae ({ctx.vae_dtype})"),
)
