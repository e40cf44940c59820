"""What diffusers' own UNet does at latent sizes that are not multiples of 4 (the judge for attentionGrid).

Runs the tiny real SDXL UNet and ControlNet of ../shared/real-arch (diffusers 0.21.4 classes, random weights) once per
latent size given on the command line (HxW ...) and prints one JSON object: per size, the output shape (or the error
when the UNet cannot take the size), the query lengths of every cross-attention call by place (down/mid/up), and the
ControlNet's residual sizes. Usage (see ../shared/real-arch/README.md):

    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HOME=$(mktemp -d) PYTHONPATH=../shared/real-arch/pydeps \
        /usr/bin/python3 tools/sdxl-bundle/probes/latent_grid.py ../shared/real-arch/models 42x64 25x25
"""

import json
import sys

import torch
from diffusers import ControlNetModel, UNet2DConditionModel
from diffusers.models.attention_processor import Attention, AttnProcessor


class Recorder(AttnProcessor):
    """The stock processor, noting (place, query length) of each cross-attention call."""

    def __init__(self, place, calls):
        super().__init__()
        self.place = place
        self.calls = calls

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, *args, **kwargs):
        if encoder_hidden_states is not None:
            self.calls.append((self.place, hidden_states.shape[1]))
        return super().__call__(attn, hidden_states, encoder_hidden_states, *args, **kwargs)


def place(name):
    """down / mid / up from a processor name such as `down_blocks.2.attentions.0.transformer_blocks.0.attn2.processor`."""
    return name.split(".")[0].split("_")[0]


def run(control, unet, x, cond, kw):
    """ControlNet, then the UNet with its residuals: (down residuals, mid residual, noise prediction)."""
    with torch.no_grad():
        down, mid = control(x, 10, controlnet_cond=cond, return_dict=False, **kw)
        sample = unet(x, 10, down_block_additional_residuals=down, mid_block_additional_residual=mid, **kw).sample
    return down, mid, sample


def finite(down, mid, sample):
    return all(bool(torch.isfinite(t).all()) for t in (*down, mid, sample))


def zero_based_scores(model):
    """Attention scores from a zero tensor with beta=1 instead of torch.empty with beta=0: the same product by
    definition, without handing uninitialised memory to Debian's torch 1.13 CPU baddbmm."""
    for m in model.modules():
        if isinstance(m, Attention):
            def scores(query, key, attention_mask=None, _orig=m.get_attention_scores):
                if attention_mask is None:
                    attention_mask = query.new_zeros(query.shape[0], query.shape[1], key.shape[1])
                return _orig(query, key, attention_mask)

            m.get_attention_scores = scores


def main(root, sizes):
    # The judge is the architecture, not the CPU kernels: with OMP_NUM_THREADS=16 (and on CI's machine) the outputs at
    # 1x1 and 3x5 were non-finite in some runs, never with one thread and the empty baddbmm input replaced by zeros.
    torch.set_num_threads(1)
    torch.manual_seed(0)
    unet = UNet2DConditionModel.from_pretrained(f"{root}/tiny-sdxl/unet").eval()
    control = ControlNetModel.from_pretrained(f"{root}/tiny-sdxl-controlnet").eval()
    zero_based_scores(unet)
    zero_based_scores(control)
    calls = []
    unet.set_attn_processor({n: Recorder(place(n), calls) for n in unet.attn_processors})
    d_ctx = unet.config.cross_attention_dim
    d_pool = unet.config.projection_class_embeddings_input_dim - 6 * unet.config.addition_time_embed_dim
    out = {}
    for size in sizes:
        h, w = (int(v) for v in size.split("x"))
        calls.clear()
        x = torch.randn(2, 4, h, w)
        kw = {
            "encoder_hidden_states": torch.randn(2, 77, d_ctx),
            "added_cond_kwargs": {"text_embeds": torch.randn(2, d_pool), "time_ids": torch.randn(2, 6)},
        }
        cond = torch.rand(2, 3, 8 * h, 8 * w)
        entry = {}
        try:
            down, mid, sample = run(control, unet, x, cond, kw)
            entry["out"] = list(sample.shape)
            entry["finite"] = finite(down, mid, sample)
            entry["residuals"] = [list(t.shape[2:]) for t in (*down, mid)]
        except Exception as e:  # a size the architecture cannot take: report it, do not stop
            entry["error"] = f"{type(e).__name__}: {e}"[:300]
        cross = {}
        for where, n in calls:
            cross.setdefault(where, set()).add(n)
        entry["cross"] = {where: sorted(ns) for where, ns in cross.items()}
        out[size] = entry
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
