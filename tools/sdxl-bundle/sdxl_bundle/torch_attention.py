"""Attention processors for the export (needs PyTorch and diffusers 0.21.4; imported lazily).

One processor class computes attention explicitly, softmax(q k^T * scale) v, as diffusers'
`AttnProcessor` + `Attention.get_attention_scores` do (and as the reference's
`P2PCrossAttnProcessor` does for every UNet layer while it records maps), and hands the
probabilities to an optional listener. Listeners:

* `AttentionRecorder`: sums, per batch row, the head-summed probabilities of the selected layers;
  the UNet wrapper divides by the number of (layer, head) pairs -> `attention_probs`;
* `probe_listener`: logs (name, query length, cross?) of every call, for the layer selection;
* `ReferenceStyleStore`: keeps every map per "{place}_{cross|self}" like the reference's
  AttentionStore, for the smoke check's independent aggregation.
"""

from __future__ import annotations

import torch

from .attention_layers import AttentionCall, place_in_unet


def attention_probabilities(attn, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """softmax(query key^T * attn.scale) over the keys, rows `batch * heads` (diffusers' layout).

    diffusers computes `baddbmm(empty, q, k^T, beta=0, alpha=scale)`; exported to ONNX, that
    materialises a zero tensor the size of the scores (B x 10 x 4096 x 4096 at 1024 px) only to
    multiply it by 0. Scaling the query first is the same product: SDXL's scale is 64**-0.5 =
    0.125, a power of two, so `query * scale` is exact in fp16 and the scores are rounded once, as
    with `alpha`.
    """
    dtype = query.dtype
    if attn.upcast_attention:
        query = query.float()
        key = key.float()
    scores = torch.bmm(query * attn.scale, key.transpose(-1, -2))
    if attn.upcast_softmax:
        scores = scores.float()
    return scores.softmax(dim=-1).to(dtype)


class ExplicitAttnProcessor:
    """diffusers attention processor with explicit probabilities and an optional listener."""

    def __init__(self, name: str, listener=None):
        self.name = name
        self.listener = listener

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, scale=1.0):
        # SDXL's transformer attentions use none of these; refuse rather than silently differ.
        if attention_mask is not None or attn.spatial_norm is not None or attn.group_norm is not None:
            raise NotImplementedError(f"{self.name}: attention masks / spatial or group norm are not supported")
        if attn.residual_connection or hidden_states.ndim != 3:
            raise NotImplementedError(f"{self.name}: residual-connection / 4-D attention is not supported")
        batch, seq_len, _ = hidden_states.shape
        is_cross = encoder_hidden_states is not None
        context = encoder_hidden_states if is_cross else hidden_states
        if is_cross and attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)
        query = attn.head_to_batch_dim(attn.to_q(hidden_states))
        key = attn.head_to_batch_dim(attn.to_k(context))
        value = attn.head_to_batch_dim(attn.to_v(context))
        probs = attention_probabilities(attn, query, key)
        if self.listener is not None:
            self.listener(self.name, probs, batch, attn.heads, seq_len, is_cross)
        out = attn.batch_to_head_dim(torch.bmm(probs, value))
        out = attn.to_out[1](attn.to_out[0](out))
        return out / attn.rescale_output_factor if attn.rescale_output_factor != 1.0 else out


def install_processors(model, listener_for) -> None:
    """Replaces every attention processor of `model` (UNet or ControlNet) by an explicit one.

    `listener_for(name)` returns the listener for that layer, or None.
    """
    model.set_attn_processor({name: ExplicitAttnProcessor(name, listener_for(name)) for name in model.attn_processors})


class AttentionRecorder:
    """Per-row sum of the selected layers' probabilities over their heads, for one forward call."""

    def __init__(self, selected):
        self.selected = frozenset(selected)
        self.reset()

    def reset(self) -> None:
        self.total = None
        self.pairs = 0  # (layer, head) pairs summed
        self.layers = 0

    def listener_for(self, name: str):
        return self if name in self.selected else None

    def __call__(self, name, probs, batch, heads, seq_len, is_cross) -> None:
        # rows of `probs` are batch-major (head_to_batch_dim): row = b * heads + head.
        per_row = probs.reshape(batch, heads, seq_len, probs.shape[-1]).float().sum(dim=1)
        self.total = per_row if self.total is None else self.total + per_row
        self.pairs += heads
        self.layers += 1

    def mean(self) -> torch.Tensor:
        """[batch, pixels, tokens]: the mean over all recorded (layer, head) pairs, float32."""
        if self.total is None:
            raise RuntimeError("no selected attention layer ran")
        return self.total / self.pairs


def probe_listener(calls: list):
    """A listener appending AttentionCall(name, query length, cross?) to `calls`."""

    def listen(name, probs, batch, heads, seq_len, is_cross) -> None:
        calls.append(AttentionCall(name, seq_len, is_cross))

    return listen


class ReferenceStyleStore:
    """The reference's AttentionStore for one call, kept independent of AttentionRecorder.

    Files every map (all batch rows, all heads: [batch * heads, pixels, tokens]) under
    "{place}_{cross|self}"; `aggregate` then does what `aggregate_attention` does: take the maps of
    `from_where` whose pixel count matches, keep one batch row's heads, concatenate along the
    (layer x head) axis, and average.
    """

    def __init__(self):
        self.store = {}

    def listener_for(self, name: str):
        place = place_in_unet(name)
        if place is None:
            return None

        def listen(_name, probs, batch, heads, seq_len, is_cross) -> None:
            self.store.setdefault(f"{place}_{'cross' if is_cross else 'self'}", []).append((probs, batch, heads))

        return listen

    def aggregate(self, row: int, pixels: int, from_where=("up", "down")) -> torch.Tensor:
        maps = []
        for place in from_where:
            for probs, batch, heads in self.store.get(f"{place}_cross", []):
                if probs.shape[1] == pixels:
                    maps.append(probs.reshape(batch, heads, pixels, probs.shape[-1])[row])
        if not maps:
            raise RuntimeError(f"no cross-attention map with {pixels} pixels in {from_where}")
        cat = torch.cat(maps, dim=0).float()
        return cat.sum(0) / cat.shape[0]
