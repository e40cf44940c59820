"""nn.Module wrappers giving each diffusers/transformers model the contract's signature.

Needs PyTorch, diffusers 0.21.4, transformers (imported lazily by build_bundle.py). Every
wrapper takes and returns plain tensors in the order of `contract.export_plan`, because
`torch.onnx.export` names inputs and outputs positionally.
"""

from __future__ import annotations

import torch

from .torch_attention import AttentionRecorder, install_processors


class TextEncoderExport(torch.nn.Module):
    """CLIPTextModel -> (last_hidden_state, pooler_output, hidden_states.0..L);
    CLIPTextModelWithProjection -> (text_embeds, last_hidden_state, hidden_states.0..L)."""

    def __init__(self, encoder, with_projection: bool):
        super().__init__()
        self.encoder = encoder
        self.with_projection = with_projection

    def forward(self, input_ids):
        # int32 ids in the file (the contract's preferred type), int64 for the embedding lookup.
        out = self.encoder(input_ids.to(torch.int64), output_hidden_states=True, return_dict=True)
        first = (out.text_embeds, out.last_hidden_state) if self.with_projection else (out.last_hidden_state, out.pooler_output)
        return (*first, *out.hidden_states)


class UNetExport(torch.nn.Module):
    """UNet2DConditionModel with the ControlNet residuals as inputs and `attention_probs` as output.

    Residuals are always added (diffusers adds them to the skip connections), so zeros are exactly
    "no ControlNet". `attention_probs` [B, pixels, tokens] is the mean, per batch row, over every
    (layer, head) pair of the selected cross-attention layers (see attention_layers.py).
    """

    def __init__(self, unet, selected_layers):
        super().__init__()
        self.unet = unet
        self.expected_layers = len(selected_layers)
        self.recorder = AttentionRecorder(selected_layers)
        install_processors(unet, self.recorder.listener_for)

    def forward(self, sample, timestep, encoder_hidden_states, text_embeds, time_ids, r0, r1, r2, r3, r4, r5, r6, r7, r8, rm):
        self.recorder.reset()
        noise = self.unet(
            sample,
            timestep,
            encoder_hidden_states=encoder_hidden_states,
            added_cond_kwargs={"text_embeds": text_embeds, "time_ids": time_ids},
            down_block_additional_residuals=[r0, r1, r2, r3, r4, r5, r6, r7, r8],
            mid_block_additional_residual=rm,
            return_dict=False,
        )[0]
        if self.recorder.layers != self.expected_layers:
            raise RuntimeError(f"recorded {self.recorder.layers} attention layers, expected {self.expected_layers}")
        return noise, self.recorder.mean()


class ControlNetExport(torch.nn.Module):
    """ControlNetModel with `conditioning_scale` as a float32 [1] input; residuals as separate outputs."""

    def __init__(self, controlnet):
        super().__init__()
        self.controlnet = controlnet
        install_processors(controlnet, lambda name: None)

    def forward(self, sample, timestep, encoder_hidden_states, text_embeds, time_ids, controlnet_cond, conditioning_scale):
        down, mid = self.controlnet(
            sample,
            timestep,
            encoder_hidden_states=encoder_hidden_states,
            controlnet_cond=controlnet_cond,
            conditioning_scale=1.0,  # exact (x * 1.0); the real scale is applied below
            added_cond_kwargs={"text_embeds": text_embeds, "time_ids": time_ids},
            guess_mode=False,
            return_dict=False,
        )
        # PyTorch computes `fp16_tensor * python_float` in float32 and rounds once to fp16; doing
        # the same here keeps the residuals identical to the reference's for any scale.
        scale = conditioning_scale.to(torch.float32)
        return tuple((r.to(torch.float32) * scale).to(r.dtype) for r in (*down, mid))


class VaeDecoderExport(torch.nn.Module):
    """AutoencoderKL.decode: unscaled latents -> image in [-1, 1] (post_quant_conv + decoder)."""

    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, latent_sample):
        return self.vae.decode(latent_sample, return_dict=False)[0]


class VaeEncoderExport(torch.nn.Module):
    """AutoencoderKL.encode -> the latent distribution's mean (unscaled), never a random sample."""

    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, sample):
        return self.vae.encode(sample, return_dict=False)[0].mean
