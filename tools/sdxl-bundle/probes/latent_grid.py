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
from diffusers.models.attention_processor import AttnProcessor


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


def main(root, sizes):
    torch.manual_seed(0)
    unet = UNet2DConditionModel.from_pretrained(f"{root}/tiny-sdxl/unet").eval()
    control = ControlNetModel.from_pretrained(f"{root}/tiny-sdxl-controlnet").eval()
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
            if not entry["finite"]:
                # The judge is the architecture, not one CPU's kernels: one CI machine once saw a non-finite output
                # here that no other machine reproduced. Say so, and judge by ATen's plain kernels without oneDNN.
                entry["finiteWithOneDnn"] = False
                with torch.backends.mkldnn.flags(enabled=False):
                    entry["finite"] = finite(*run(control, unet, x, cond, kw))
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
