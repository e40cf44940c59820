"""The SDXL UNet's structure, derived from its diffusers config (pure, no third-party imports).

Two things the export needs to know before it traces anything, and checks against what it
observes while tracing:

* the ControlNet residuals: channel count and down-sampling factor of each skip connection that
  `down_block_additional_residuals` is added to (conv_in, then every resnet and down-sampler);
* every attention layer of the UNet: its processor name (the key of `unet.attn_processors`),
  where it sits (down / mid / up, the reference's `place_in_unet`), its resolution factor, head
  count and whether it is cross-attention.

This follows the construction in diffusers 0.21.4 `UNet2DConditionModel.__init__` (and the
blocks it builds); only the block types SDXL uses are supported, anything else is an error
rather than a guess.
"""

from __future__ import annotations

from dataclasses import dataclass

CROSS_ATTN_DOWN = "CrossAttnDownBlock2D"
PLAIN_DOWN = "DownBlock2D"
CROSS_ATTN_UP = "CrossAttnUpBlock2D"
PLAIN_UP = "UpBlock2D"
CROSS_ATTN_MID = "UNetMidBlock2DCrossAttn"

# The public SDXL base 1.0 UNet config (stabilityai/stable-diffusion-xl-base-1.0, unet/config.json),
# the fields this module reads. Used by tests and by `--dry-run`; the build reads the real file.
SDXL_UNET_CONFIG = {
    "down_block_types": [PLAIN_DOWN, CROSS_ATTN_DOWN, CROSS_ATTN_DOWN],
    "up_block_types": [CROSS_ATTN_UP, CROSS_ATTN_UP, PLAIN_UP],
    "mid_block_type": CROSS_ATTN_MID,
    "block_out_channels": [320, 640, 1280],
    "layers_per_block": 2,
    "transformer_layers_per_block": [1, 2, 10],
    "attention_head_dim": [5, 10, 20],
    "num_attention_heads": None,
    "only_cross_attention": False,
    "in_channels": 4,
    "sample_size": 128,
    "cross_attention_dim": 2048,
    "projection_class_embeddings_input_dim": 2816,
    "addition_time_embed_dim": 256,
    "addition_embed_type": "text_time",
}


def _per_block(value, n: int, what: str) -> list:
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"unet config: {what} has {len(value)} entries for {n} down blocks")
        return list(value)
    return [value] * n


def _check_supported(cfg: dict) -> None:
    for t in cfg["down_block_types"]:
        if t not in (CROSS_ATTN_DOWN, PLAIN_DOWN):
            raise ValueError(f"unet config: unsupported down block type {t}")
    for t in cfg["up_block_types"]:
        if t not in (CROSS_ATTN_UP, PLAIN_UP):
            raise ValueError(f"unet config: unsupported up block type {t}")
    if cfg.get("mid_block_type", CROSS_ATTN_MID) != CROSS_ATTN_MID:
        raise ValueError(f"unet config: unsupported mid block type {cfg.get('mid_block_type')}")
    if any(_per_block(cfg.get("only_cross_attention", False), len(cfg["down_block_types"]), "only_cross_attention")):
        raise ValueError("unet config: only_cross_attention is not supported (attn1 would be cross-attention)")


@dataclass(frozen=True)
class Residual:
    channels: int
    factor: int  # spatial size = ceil(latent / factor)


def residual_layout(cfg: dict) -> tuple:
    """(down residuals, mid residual) the UNet adds ControlNet outputs to, in order.

    diffusers collects `down_block_res_samples` as: conv_in's output, then for each down block
    the output of each of its resnets (each with that block's channel count) and, unless it is
    the last block, of its down-sampler (which halves the resolution).
    """
    _check_supported(cfg)
    channels = list(cfg["block_out_channels"])
    n = len(channels)
    layers = _per_block(cfg["layers_per_block"], n, "layers_per_block")
    down = [Residual(channels[0], 1)]
    factor = 1
    for i in range(n):
        down += [Residual(channels[i], factor)] * layers[i]
        if i < n - 1:
            factor *= 2
            down.append(Residual(channels[i], factor))
    return tuple(down), Residual(channels[-1], factor)


@dataclass(frozen=True)
class AttentionLayer:
    name: str  # key of `unet.attn_processors`, e.g. "up_blocks.0.attentions.2.transformer_blocks.9.attn2.processor"
    place: str  # "down" | "mid" | "up"
    factor: int  # query resolution = latent / factor
    heads: int
    is_cross: bool


def attention_layers(cfg: dict) -> list:
    """Every attention layer of the UNet, in diffusers' registration order (down, up, mid)."""
    _check_supported(cfg)
    down_types = cfg["down_block_types"]
    n = len(down_types)
    heads = _per_block(cfg.get("num_attention_heads") or cfg["attention_head_dim"], n, "attention heads")
    depth = _per_block(cfg.get("transformer_layers_per_block", 1), n, "transformer_layers_per_block")
    layers = _per_block(cfg["layers_per_block"], n, "layers_per_block")

    out = []

    def block(prefix: str, place: str, factor: int, n_attn: int, n_depth: int, n_heads: int) -> None:
        for a in range(n_attn):
            for d in range(n_depth):
                base = f"{prefix}.attentions.{a}.transformer_blocks.{d}"
                out.append(AttentionLayer(f"{base}.attn1.processor", place, factor, n_heads, False))
                out.append(AttentionLayer(f"{base}.attn2.processor", place, factor, n_heads, True))

    for i, t in enumerate(down_types):
        if t == CROSS_ATTN_DOWN:
            block(f"down_blocks.{i}", "down", 2**i, layers[i], depth[i], heads[i])
    up_types = cfg["up_block_types"]
    if len(up_types) != n:
        raise ValueError(f"unet config: {len(up_types)} up blocks for {n} down blocks")
    for i, t in enumerate(up_types):
        r = n - 1 - i  # up block i mirrors down block n-1-i
        if t == CROSS_ATTN_UP:
            block(f"up_blocks.{i}", "up", 2**r, layers[r] + 1, depth[r], heads[r])
    block("mid_block", "mid", 2 ** (n - 1), 1, depth[-1], heads[-1])
    return out


def base_resolution(unet_cfg: dict, vae_scale_factor: int) -> int:
    """Phase-1 resolution in pixels: the UNet's default sample size times the VAE factor."""
    return int(unet_cfg["sample_size"]) * vae_scale_factor


def vae_scale_factor(vae_cfg: dict) -> int:
    """diffusers: 2 ** (len(block_out_channels) - 1)."""
    return 2 ** (len(vae_cfg["block_out_channels"]) - 1)


def model_dims(unet_cfg: dict, te1_cfg: dict, te2_cfg: dict, max_tokens: int):
    """The contract's learned numbers (D1, D2, P, L1, L2, R0..R8, RM) for these configs."""
    from .contract import DOWN_FACTORS, MID_FACTOR, ModelDims

    down, mid = residual_layout(unet_cfg)
    factors = tuple(r.factor for r in down)
    if factors != DOWN_FACTORS or mid.factor != MID_FACTOR:
        raise ValueError(f"unet residual factors {factors} / mid {mid.factor} differ from the contract's {DOWN_FACTORS}")
    return ModelDims(
        T=int(max_tokens),
        C=int(unet_cfg["in_channels"]),
        D1=int(te1_cfg["hidden_size"]),
        D2=int(te2_cfg["hidden_size"]),
        P=int(te2_cfg["projection_dim"]),
        L1=int(te1_cfg["num_hidden_layers"]),
        L2=int(te2_cfg["num_hidden_layers"]),
        residual_channels=tuple(r.channels for r in down),
        mid_channels=mid.channels,
    )


# The text-encoder config fields model_dims reads, as published for SDXL base 1.0.
SDXL_TEXT_ENCODER_CONFIG = {"hidden_size": 768, "num_hidden_layers": 12, "projection_dim": 768}
SDXL_TEXT_ENCODER_2_CONFIG = {"hidden_size": 1280, "num_hidden_layers": 32, "projection_dim": 1280}
# The fp16-fix VAE config fields this tool reads.
SDXL_VAE_CONFIG = {"block_out_channels": [128, 256, 512, 512], "scaling_factor": 0.13025, "force_upcast": False}


def vae_export_dtype(vae_cfg: dict) -> str:
    """float32 when the reference would upcast the VAE (`force_upcast`, diffusers 0.21.4's default
    when the key is absent), else float16; the fp16-fix VAE's config sets it to false."""
    return "float32" if vae_cfg.get("force_upcast", True) else "float16"
