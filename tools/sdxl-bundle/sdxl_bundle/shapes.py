"""Concrete tensor shapes for a latent size (pure, no third-party imports).

Used for the dummy inputs `torch.onnx.export` traces with, the smoke-check inputs, and to check
every output shape the export produces against the contract.
"""

from __future__ import annotations

import math

from .contract import (
    CONTROLNET_MID_OUTPUT,
    DOWN_FACTORS,
    MID_FACTOR,
    SDXL_DIMS,
    UNET_MID_RESIDUAL_INPUT,
    ExportSignature,
    ModelDims,
    controlnet_residual_output,
    unet_residual_input,
)


def down(n: int, factor: int) -> int:
    """Size after log2(factor) stride-2 convolutions with padding 1: ceil(n / factor)."""
    return math.ceil(n / factor)


def residual_shapes(batch: int, h: int, w: int, dims: ModelDims = SDXL_DIMS, names: str = "unet") -> list:
    """[(name, shape)] of the 9 + 1 ControlNet residuals at latent h x w (UNet input or ControlNet output names)."""
    down_name = unet_residual_input if names == "unet" else controlnet_residual_output
    mid_name = UNET_MID_RESIDUAL_INPUT if names == "unet" else CONTROLNET_MID_OUTPUT
    out = [
        (down_name(k), (batch, dims.residual_channels[k], down(h, f), down(w, f))) for k, f in enumerate(DOWN_FACTORS)
    ]
    out.append((mid_name, (batch, dims.mid_channels, down(h, MID_FACTOR), down(w, MID_FACTOR))))
    return out


def bind(batch: int, h: int, w: int, vae_scale_factor: int = 8, attention_factor: int = 4) -> dict:
    """Values of the dynamic symbols for a batch and latent size."""
    return {
        "B": batch,
        "b": batch,
        "h": h,
        "w": w,
        "H": h * vae_scale_factor,
        "W": w * vae_scale_factor,
        "h/2": down(h, 2),
        "w/2": down(w, 2),
        "h/4": down(h, 4),
        "w/4": down(w, 4),
        "N": down(h, attention_factor) * down(w, attention_factor),
    }


def concrete(dims: tuple, values: dict) -> tuple:
    return tuple(d if isinstance(d, int) else values[d] for d in dims)


def io_shapes(sig: ExportSignature, batch: int, h: int, w: int, vae_scale_factor: int = 8) -> tuple:
    """({input: shape}, {output: shape}) of a component at latent h x w (pixel components: H = 8h)."""
    values = bind(batch, h, w, vae_scale_factor)
    return (
        {t.name: concrete(t.dims, values) for t in sig.inputs},
        {t.name: concrete(t.dims, values) for t in sig.outputs},
    )


def check_latent(h: int, w: int) -> None:
    """Latent sizes the export supports: any positive size (the UNet forwards skip sizes to its up-samplers)."""
    if h < 1 or w < 1:
        raise ValueError(f"latent size {h}x{w} must be positive")


# Sizes used while exporting: the UNet is traced at a latent that is NOT a multiple of 4, so that
# diffusers takes its `forward_upsample_size` branch and every up-sampler is traced with the size
# of the skip connection it meets (a dynamic Resize): traced at a multiple of 4, the graph would
# hard-wire `scale_factor=2` and fail on the odd sizes dilated sampling produces.
TRACE_LATENT = (34, 46)
TEXT_TRACE_BATCH = 1
UNET_TRACE_BATCH = 2
VAE_TRACE_LATENT = (32, 40)
# An odd latent size for the smoke cases (not a multiple of any down-sampling factor).
ODD_LATENT = (33, 47)
