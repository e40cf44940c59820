"""The export steps, one model at a time (needs torch, diffusers 0.21.4, transformers, onnx).

Each step loads one model, runs its PyTorch checks, saves smoke-check cases, exports, and frees
the model before the next step, so the GPU holds one model at a time (the UNet, ~5 GB, is the
largest). `build_bundle.py` calls them in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import sources
from .attention_layers import attention_pixels, expected_selection, place_in_unet, select_attention_layers
from .export_onnx import export_component
from .layout import attention_layers
from .shapes import TEXT_TRACE_BATCH, TRACE_LATENT, UNET_TRACE_BATCH, VAE_TRACE_LATENT
from .smoke import (
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
    for which in ("tokenizer", "tokenizer_2"):
        dest = sources.copy_tokenizer(ctx.src, which, ctx.bundle / ctx.components[which])
        ctx.log(f"  wrote {dest}/ ({', '.join(sorted(p.name for p in dest.iterdir()))})")


def export_text_encoders(ctx: Context) -> None:
    from transformers import CLIPTokenizer

    for which in ("text_encoder", "text_encoder_2"):
        sig = ctx.plan[which]
        tok = CLIPTokenizer.from_pretrained(str(ctx.bundle / ctx.components["tokenizer" if which == "text_encoder" else "tokenizer_2"]))
        model = sources.load_text_encoder(ctx.src, which, torch.float16, ctx.device)
        wrapper = TextEncoderExport(model, with_projection=which == "text_encoder_2")
        case = make_inputs(sig, TEXT_TRACE_BATCH, 1, 1, seed=10, device=ctx.device, fill=ids_fill(tok, "a photo of a cat"))
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
    x = make_inputs(sig, 1, h, w, seed=11, device=ctx.device, fill=unet_fill(999.0, 0.0, 11))
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


def export_unet(ctx: Context, unet_cfg: dict) -> list:
    sig = ctx.plan["unet"]
    unet = sources.load_unet(ctx.src, torch.float16, ctx.device)
    a = make_inputs(sig, 2, 64, 64, seed=1, device=ctx.device, fill=unet_fill(999.0, 0.0, 1))
    b = make_inputs(sig, 2, 64, 64, seed=2, device=ctx.device, fill=unet_fill(500.0, 0.1, 2))
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
    pixels = attention_pixels(64, 64, 4)
    for row in range(2):
        ref = store.aggregate(row, pixels)
        r.check(f"attention_probs row {row} vs reference-style aggregation", metrics(out_a["attention_probs"][row], ref), ATTENTION_VS_REFERENCE_STORE)
    attention_row_check(r, "torch", out_a["attention_probs"])
    del store
    save_case(ctx.work, "unet-0", b, out_b)
    c = make_inputs(sig, 1, 33, 47, seed=3, device=ctx.device, fill=unet_fill(250.0, 0.1, 3))
    with torch.no_grad():
        save_case(ctx.work, "unet-1", c, _named(sig, wrapper(*_args(sig, c))))
    trace = make_inputs(sig, UNET_TRACE_BATCH, *TRACE_LATENT, seed=4, device=ctx.device, fill=unet_fill(999.0, 0.1, 4))
    export_component(wrapper, _args(sig, trace), sig, _target(ctx, "unet"), log=ctx.log)
    del wrapper, unet
    _release_gpu()
    return selected


def export_controlnet(ctx: Context) -> None:
    sig = ctx.plan["controlnet"]
    cn = sources.load_controlnet(ctx.src, torch.float16, ctx.device)
    x = make_inputs(sig, 2, 32, 32, seed=5, device=ctx.device, fill=unet_fill(500.0, 0.0, 5))
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
    for name, plain in zip(sig.output_names, (*down, mid)):
        ctx.report.check(f"torch controlnet wrapper vs diffusers, {name}", metrics(out[name], plain), WRAPPER_VS_DIFFUSERS)
    save_case(ctx.work, "controlnet-0", x, out)
    y = make_inputs(sig, 1, 33, 47, seed=6, device=ctx.device, fill=unet_fill(250.0, 0.0, 6))
    with torch.no_grad():
        save_case(ctx.work, "controlnet-1", y, _named(sig, wrapper(*_args(sig, y))))
    trace = make_inputs(sig, UNET_TRACE_BATCH, *TRACE_LATENT, seed=7, device=ctx.device, fill=unet_fill(999.0, 0.0, 7))
    export_component(wrapper, _args(sig, trace), sig, _target(ctx, "controlnet"), log=ctx.log)
    del wrapper, cn, down, mid
    _release_gpu()


def export_vae(ctx: Context, vae_dtype: str) -> None:
    vae = sources.load_vae(ctx.src, TORCH_DTYPE[vae_dtype], ctx.device)
    h, w = VAE_TRACE_LATENT

    def uniform(name, shape):  # an image in [-1, 1]
        return np.random.default_rng(8).uniform(-1.0, 1.0, shape)

    for component, wrapper, fill in (
        ("vae_decoder", VaeDecoderExport(vae), None),
        ("vae_encoder", VaeEncoderExport(vae), uniform),
    ):
        sig = ctx.plan[component]
        x = make_inputs(sig, 1, h, w, seed=9, device=ctx.device, fill=fill)
        with torch.no_grad():
            out = _named(sig, wrapper(*_args(sig, x)))
        if not all(torch.isfinite(v).all() for v in out.values()):
            ctx.report.fail(f"torch {component}", "non-finite output")
        save_case(ctx.work, f"{component}-0", x, out)
        export_component(wrapper, _args(sig, x), sig, _target(ctx, component), log=ctx.log)
    del vae, wrapper
    _release_gpu()
