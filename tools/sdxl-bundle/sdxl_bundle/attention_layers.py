"""Which attention layers feed the UNet's `attention_probs` output (pure, no third-party imports).

The reference (AccDiffusion v2, `accdiffusion_plus.py` + `utils.py`, diffusers 0.21.4) replaces
every attention processor whose name starts with `down_blocks`, `mid_block` or `up_blocks` by a
recording one (`register_attention_control`). Its `AttentionStore` files each call under
`"{place}_{cross|self}"`, cross meaning the layer was given `encoder_hidden_states`, keeping the
conditioned half of the batch (`attn[h // 2:]`, rows `batch * heads` ordered batch-major) and only
maps with at most 32**2 query pixels (a memory guard). `aggregate_attention(..., from_where=["up",
"down"], is_cross=True)` then keeps the maps whose query length equals (H/32)*(W/32) at the
phase-1 size H x W, concatenates them along the (layer x head) axis and takes
`sum(0) / shape[0]`: the mean over every (layer, head) pair.

So the selected layers are: place down or up (never mid, whatever its resolution: SDXL's mid
block runs at H/32 x W/32 too), cross-attention, query resolution H/32 x W/32, i.e. latent / 4
(`attentionDivisor / vaeScaleFactor`). Resolution is a structural property of a layer, so the
export picks the layers once, by name, from one probe call, and records them at any size.
"""

from __future__ import annotations

import math
from collections import namedtuple

# One attention call seen while probing: processor name, query length (pixels), cross or self.
AttentionCall = namedtuple("AttentionCall", ["name", "seq_len", "is_cross"])

REFERENCE_PLACES = ("up", "down")  # the reference's `from_where`
REFERENCE_MAX_PIXELS = 32**2  # AttentionStore.forward's memory guard


def place_in_unet(name: str):
    """The reference's `place_in_unet` for a processor name, or None for layers it does not hook."""
    if name.startswith("mid_block"):
        return "mid"
    if name.startswith("up_blocks"):
        return "up"
    if name.startswith("down_blocks"):
        return "down"
    return None


def attention_pixels(h: int, w: int, factor: int) -> int:
    """Query length of a layer at latent / factor (stride-2 convolutions round up)."""
    return math.ceil(h / factor) * math.ceil(w / factor)


def probe_is_unambiguous(h: int, w: int, factor: int, other_factors=(1, 2, 8)) -> bool:
    """Whether, at latent h x w, layers at `factor` are told apart from the others by length alone."""
    n = attention_pixels(h, w, factor)
    return all(attention_pixels(h, w, f) != n for f in other_factors if f != factor)


def select_attention_layers(calls, h: int, w: int, factor: int = 4, places=REFERENCE_PLACES) -> list:
    """Names of the layers the reference aggregates, from the calls of one UNet forward at latent h x w.

    `calls`: AttentionCall (or (name, seq_len, is_cross) tuples), in call order. Returns the
    selected names in call order, each once. Raises when the probe size cannot tell resolutions
    apart or when nothing is selected (a UNet this rule does not fit).
    """
    if not probe_is_unambiguous(h, w, factor):
        raise ValueError(f"probe latent {h}x{w}: resolution factor {factor} is not distinguishable by length")
    want = attention_pixels(h, w, factor)
    selected = []
    for call in calls:
        name, seq_len, is_cross = call
        if place_in_unet(name) in places and is_cross and seq_len == want and name not in selected:
            selected.append(name)
    if not selected:
        raise ValueError(f"no {'/'.join(places)} cross-attention layer has {want} query pixels at latent {h}x{w}")
    return selected


def expected_selection(layers, factor: int = 4, places=REFERENCE_PLACES) -> list:
    """The same rule applied to the config-derived layout (layout.attention_layers)."""
    return [l.name for l in layers if l.place in places and l.is_cross and l.factor == factor]


def reference_keeps(h_px: int, w_px: int, divisor: int = 32) -> bool:
    """Whether the reference's AttentionStore keeps the H/32 x W/32 maps at phase-1 size h_px x w_px.

    Above 32**2 attention pixels the store drops them and `aggregate_attention` fails on an empty
    list; the export has no such limit (the pipeline decides what to do with larger phase-1 sizes).
    """
    return (h_px // divisor) * (w_px // divisor) <= REFERENCE_MAX_PIXELS
