"""The fused ControlNet + UNet component `unet_controlnet` (accdiff-bundle/2, docs/model-bundle.md).

One traced module calls the ControlNet wrapper and the UNet wrapper, so the residuals stay inside the graph, and
crops the condition itself: `controlnet_cond` [1, 1, Hc, Wc] holds rows of the phase's zero-padded single-channel
condition, `crop_boxes` [V, 2] the (top, left) of each view's 8h x 8w crop; the crops are copied to 3 channels and
repeated for each view's B / V rows (the CFG pair). Only copies: the ControlNet sees exactly the host crops the
separate path builds, so the two paths agree (checked in PyTorch here, and against the exported separate models by
gpu-runner's real-architecture test).

Needs PyTorch + diffusers (imported by build_bundle.py through steps.py).
"""

from __future__ import annotations

import numpy as np
import torch

from . import sources
from .export_onnx import export_component
from .shapes import TRACE_LATENT, UNET_TRACE_BATCH
from .smoke import metrics, save_case
from .wrappers import ControlNetExport, UNetExport

COMPONENT = "unet_controlnet"
PATH = "unet_controlnet/model.onnx"


def crop_views(cond: torch.Tensor, boxes: torch.Tensor, rows: int, ph, pw) -> torch.Tensor:
    """[rows, 3, ph, pw]: each box's crop of cond[0, 0], in 3 channels, rows / V times (traced with dynamic sizes)."""
    plane = cond[0, 0]  # [Hc, Wc]
    views = boxes.shape[0]
    ys = boxes[:, 0:1] + torch.arange(ph, device=cond.device).unsqueeze(0)  # [V, ph]
    xs = boxes[:, 1:2] + torch.arange(pw, device=cond.device).unsqueeze(0)  # [V, pw]
    band = plane.index_select(0, ys.reshape(-1)).reshape(views, ph, plane.shape[1])  # [V, ph, Wc]
    crops = torch.gather(band, 2, xs.unsqueeze(1).expand(views, ph, pw))  # [V, ph, pw]
    per_view = rows // views
    return crops.unsqueeze(1).unsqueeze(2).expand(views, per_view, 3, ph, pw).reshape(rows, 3, ph, pw)


class UNetControlNetExport(torch.nn.Module):
    """ControlNetExport -> residuals -> UNetExport in one module; the condition cropped from `controlnet_cond`."""

    def __init__(self, controlnet: ControlNetExport, unet: UNetExport, vae_scale_factor: int):
        super().__init__()
        self.controlnet = controlnet
        self.unet = unet
        self.k = vae_scale_factor

    def forward(self, sample, timestep, encoder_hidden_states, text_embeds, time_ids, controlnet_cond, crop_boxes,
                conditioning_scale):
        cond = crop_views(controlnet_cond, crop_boxes, sample.shape[0], sample.shape[2] * self.k, sample.shape[3] * self.k)
        residuals = self.controlnet(sample, timestep, encoder_hidden_states, text_embeds, time_ids, cond,
                                    conditioning_scale)
        return self.unet(sample, timestep, encoder_hidden_states, text_embeds, time_ids, *residuals)


def host_crops(band: np.ndarray, boxes: np.ndarray, rows: int, ph: int, pw: int) -> np.ndarray:
    """The separate path's crops (gpu-runner models/controlCrops.ts cropBoxes), for the PyTorch check."""
    views = boxes.shape[0]
    out = np.zeros((rows, 3, ph, pw), dtype=band.dtype)
    for v, (top, left) in enumerate(boxes):
        out[v * (rows // views):(v + 1) * (rows // views)] = band[0, 0, top:top + ph, left:left + pw]
    return out


def fused_inputs(ctx, unet_inputs: dict, views: int, seed: int) -> dict:
    """The UNet case's conditioning plus a padded condition band and one box per view (two CFG rows each)."""
    sample = unet_inputs["sample"]
    rows, _, h, w = sample.shape
    k = ctx.vae_factor
    rng = np.random.default_rng(seed)
    hc, wc = k * h + 24, k * w + 40  # room for boxes at different offsets
    band = (rng.random((1, 1, hc, wc)) > 0.85).astype(np.float64)
    band[0, 0, :8] = 0  # zero padding rows, as the runner's padded condition has
    tops = rng.integers(0, hc - k * h + 1, size=views)
    lefts = rng.integers(0, wc - k * w + 1, size=views)
    boxes = np.stack([tops, lefts], axis=1).astype(np.int64)
    x = {n: t for n, t in unet_inputs.items() if "residual" not in n}
    x["controlnet_cond"] = torch.from_numpy(band).to(sample.dtype).to(sample.device)
    x["crop_boxes"] = torch.from_numpy(boxes).to(sample.device)
    x["conditioning_scale"] = torch.tensor([0.7], dtype=torch.float32, device=sample.device)
    assert rows % views == 0
    return x


def export_fused(ctx) -> None:
    """The `unet_controlnet` step: builds, checks fused == ControlNet then UNet in PyTorch, saves a case, exports."""
    from .steps import _args, _named, _release_gpu, _target  # noqa: PLC0415 - steps imports this module lazily

    sig = ctx.plan[COMPONENT]
    unet = sources.load_unet(ctx.src, ctx.torch_dtype, ctx.device)
    cn = sources.load_controlnet(ctx.src, ctx.torch_dtype, ctx.device)
    unet_w = UNetExport(unet, ctx.attention_layers)
    cn_w = ControlNetExport(cn)
    fused = UNetControlNetExport(cn_w, unet_w, ctx.vae_factor)
    n = ctx.base_latent
    base = ctx.inputs("unet", 4, n, n, seed=11, fill=ctx.unet_fill(500.0, 0.0, 11))
    x = fused_inputs(ctx, base, views=2, seed=12)
    with torch.no_grad():
        out = _named(sig, fused(*_args(sig, x)))
        k = ctx.vae_factor
        crops = host_crops(x["controlnet_cond"].cpu().numpy(), x["crop_boxes"].cpu().numpy(), 4, k * n, k * n)
        cond = torch.from_numpy(crops).to(x["sample"].device)
        res = cn_w(x["sample"], x["timestep"], x["encoder_hidden_states"], x["text_embeds"], x["time_ids"], cond,
                   x["conditioning_scale"])
        sep = unet_w(x["sample"], x["timestep"], x["encoder_hidden_states"], x["text_embeds"], x["time_ids"], *res)
    for name, want in zip(sig.output_names, sep):
        m = metrics(out[name], want)
        ctx.report.check(f"torch fused vs controlnet then unet, {name}", m, {"max_abs": 0.0})
    save_case(ctx.work, f"{COMPONENT}-0", x, out)
    # Traced with two views of two rows, so that nothing specialises on one view.
    trace_base = ctx.inputs("unet", 2 * UNET_TRACE_BATCH, *TRACE_LATENT, seed=13, fill=ctx.unet_fill(999.0, 0.0, 13))
    trace = fused_inputs(ctx, trace_base, views=2, seed=14)
    export_component(fused, _args(sig, trace), sig, _target(ctx, COMPONENT), log=ctx.log)
    del fused, unet_w, cn_w, unet, cn
    _release_gpu()
