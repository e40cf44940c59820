import sys
import unittest
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sdxl_bundle.contract import DOWN_FACTORS, MID_FACTOR, SDXL_DIMS  # noqa: E402
from sdxl_bundle.layout import (  # noqa: E402
    SDXL_TEXT_ENCODER_2_CONFIG,
    SDXL_TEXT_ENCODER_CONFIG,
    SDXL_UNET_CONFIG,
    SDXL_VAE_CONFIG,
    attention_layers,
    base_resolution,
    model_dims,
    residual_layout,
    vae_export_dtype,
    vae_scale_factor,
)


class ResidualLayout(unittest.TestCase):
    def test_sdxl_residuals(self):
        down, mid = residual_layout(SDXL_UNET_CONFIG)
        self.assertEqual([r.channels for r in down], [320, 320, 320, 320, 640, 640, 640, 1280, 1280])
        self.assertEqual(tuple(r.factor for r in down), DOWN_FACTORS)
        self.assertEqual((mid.channels, mid.factor), (1280, MID_FACTOR))

    def test_other_depths(self):
        cfg = dict(SDXL_UNET_CONFIG, layers_per_block=1, block_out_channels=[8, 16, 32])
        down, mid = residual_layout(cfg)
        self.assertEqual([(r.channels, r.factor) for r in down], [(8, 1), (8, 1), (8, 2), (16, 2), (16, 4), (32, 4)])
        self.assertEqual((mid.channels, mid.factor), (32, 4))

    def test_model_dims(self):
        self.assertEqual(model_dims(SDXL_UNET_CONFIG, SDXL_TEXT_ENCODER_CONFIG, SDXL_TEXT_ENCODER_2_CONFIG, 77), SDXL_DIMS)
        with self.assertRaises(ValueError):
            model_dims(dict(SDXL_UNET_CONFIG, layers_per_block=1), SDXL_TEXT_ENCODER_CONFIG, SDXL_TEXT_ENCODER_2_CONFIG, 77)

    def test_vae_precision_follows_force_upcast(self):
        self.assertEqual(vae_export_dtype(SDXL_VAE_CONFIG), "float16")
        self.assertEqual(vae_export_dtype({"force_upcast": True}), "float32")
        self.assertEqual(vae_export_dtype({}), "float32")  # diffusers' default

    def test_resolution(self):
        f = vae_scale_factor(SDXL_VAE_CONFIG)
        self.assertEqual(f, 8)
        self.assertEqual(base_resolution(SDXL_UNET_CONFIG, f), 1024)


class AttentionLayout(unittest.TestCase):
    def setUp(self):
        self.layers = attention_layers(SDXL_UNET_CONFIG)

    def test_counts_per_block(self):
        blocks = Counter(".".join(l.name.split(".")[:2]) for l in self.layers if l.is_cross)
        # down 1: 2 attentions x depth 2; down 2: 2 x 10; up 0: 3 x 10; up 1: 3 x 2; mid: 1 x 10
        self.assertEqual(blocks, Counter({"down_blocks.1": 4, "down_blocks.2": 20, "up_blocks.0": 30, "up_blocks.1": 6, "mid_block.attentions": 10}))
        self.assertEqual(len(self.layers), 2 * 70)

    def test_factors_heads_and_kinds(self):
        by = {l.name: l for l in self.layers}
        l = by["down_blocks.2.attentions.1.transformer_blocks.9.attn2.processor"]
        self.assertEqual((l.place, l.factor, l.heads, l.is_cross), ("down", 4, 20, True))
        l = by["up_blocks.1.attentions.2.transformer_blocks.1.attn1.processor"]
        self.assertEqual((l.place, l.factor, l.heads, l.is_cross), ("up", 2, 10, False))
        l = by["mid_block.attentions.0.transformer_blocks.0.attn2.processor"]
        # SDXL's mid block runs at latent/4 too: only the place excludes it from attention_probs
        self.assertEqual((l.place, l.factor, l.heads), ("mid", 4, 20))

    def test_unsupported_configs_are_errors(self):
        with self.assertRaises(ValueError):
            attention_layers(dict(SDXL_UNET_CONFIG, down_block_types=["SimpleCrossAttnDownBlock2D"] * 3))
        with self.assertRaises(ValueError):
            attention_layers(dict(SDXL_UNET_CONFIG, only_cross_attention=True))
        with self.assertRaises(ValueError):
            attention_layers(dict(SDXL_UNET_CONFIG, transformer_layers_per_block=[1, 2]))


if __name__ == "__main__":
    unittest.main()
