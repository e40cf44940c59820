import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sdxl_bundle.attention_layers import (  # noqa: E402
    AttentionCall,
    attention_pixels,
    expected_selection,
    place_in_unet,
    probe_is_unambiguous,
    reference_keeps,
    select_attention_layers,
)
from sdxl_bundle.layout import SDXL_UNET_CONFIG, attention_layers  # noqa: E402
from sdxl_bundle.shapes import TRACE_LATENT  # noqa: E402


def simulated_calls(h, w, cfg=SDXL_UNET_CONFIG):
    """What a probe forward logs: every layer once, with its query length at latent h x w."""
    return [AttentionCall(l.name, attention_pixels(h, w, l.factor), l.is_cross) for l in attention_layers(cfg)]


class Selection(unittest.TestCase):
    def test_place_in_unet(self):
        self.assertEqual(place_in_unet("down_blocks.2.attentions.0.transformer_blocks.0.attn2.processor"), "down")
        self.assertEqual(place_in_unet("up_blocks.0.attentions.0.transformer_blocks.0.attn1.processor"), "up")
        self.assertEqual(place_in_unet("mid_block.attentions.0.transformer_blocks.0.attn2.processor"), "mid")
        self.assertIsNone(place_in_unet("controlnet_down_blocks.0"))

    def test_sdxl_selection_is_the_50_latent_over_4_cross_layers_of_down_and_up(self):
        h, w = TRACE_LATENT
        got = select_attention_layers(simulated_calls(h, w), h, w)
        self.assertEqual(len(got), 50)
        self.assertEqual(sum(n.startswith("down_blocks.2.") for n in got), 20)
        self.assertEqual(sum(n.startswith("up_blocks.0.") for n in got), 30)
        self.assertTrue(all(n.endswith(".attn2.processor") for n in got))
        self.assertEqual(got, expected_selection(attention_layers(SDXL_UNET_CONFIG)))

    def test_the_selection_does_not_depend_on_the_probe_size(self):
        ref = select_attention_layers(simulated_calls(128, 128), 128, 128)
        for h, w in [(34, 46), (33, 47), (64, 96), (96, 64), (17, 128)]:
            self.assertEqual(select_attention_layers(simulated_calls(h, w), h, w), ref, f"{h}x{w}")

    def test_mid_block_and_self_attention_are_excluded_at_the_same_length(self):
        calls = simulated_calls(128, 128)
        n = attention_pixels(128, 128, 4)
        same_length = [c for c in calls if c.seq_len == n]
        self.assertTrue(any(place_in_unet(c.name) == "mid" for c in same_length))
        self.assertTrue(any(not c.is_cross for c in same_length))
        got = set(select_attention_layers(calls, 128, 128))
        self.assertFalse(any(place_in_unet(x) == "mid" for x in got))
        self.assertFalse(any(".attn1." in x for x in got))

    def test_places_and_factor_are_parameters(self):
        calls = simulated_calls(64, 64)
        self.assertEqual(len(select_attention_layers(calls, 64, 64, places=("mid",))), 10)
        self.assertEqual(len(select_attention_layers(calls, 64, 64, factor=2)), 4 + 6)

    def test_each_layer_once_in_call_order(self):
        calls = simulated_calls(64, 64)
        got = select_attention_layers(calls + calls, 64, 64)
        self.assertEqual(got, select_attention_layers(calls, 64, 64))

    def test_ambiguous_probe_and_empty_selection_raise(self):
        self.assertFalse(probe_is_unambiguous(1, 1, 4))
        self.assertTrue(probe_is_unambiguous(*TRACE_LATENT, 4))
        with self.assertRaises(ValueError):
            select_attention_layers(simulated_calls(1, 1), 1, 1)
        with self.assertRaises(ValueError):
            select_attention_layers([("down_blocks.1.x.attn2.processor", 1024, True)], 64, 64)

    def test_pixels_round_up_like_stride_2_convolutions(self):
        self.assertEqual(attention_pixels(33, 47, 4), 9 * 12)
        self.assertEqual(attention_pixels(128, 128, 4), 1024)

    def test_reference_memory_guard(self):
        self.assertTrue(reference_keeps(1024, 1024))
        self.assertTrue(reference_keeps(768, 1024))
        self.assertFalse(reference_keeps(1536, 1024))


if __name__ == "__main__":
    unittest.main()
