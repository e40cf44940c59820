import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sdxl_bundle.contract import SDXL_DIMS, export_plan  # noqa: E402
from sdxl_bundle.shapes import TRACE_LATENT, bind, check_latent, io_shapes, residual_shapes  # noqa: E402


class Shapes(unittest.TestCase):
    def test_residuals_at_1024px(self):
        got = dict(residual_shapes(2, 128, 128))
        self.assertEqual(got["down_block_additional_residual_0"], (2, 320, 128, 128))
        self.assertEqual(got["down_block_additional_residual_3"], (2, 320, 64, 64))
        self.assertEqual(got["down_block_additional_residual_5"], (2, 640, 64, 64))
        self.assertEqual(got["down_block_additional_residual_6"], (2, 640, 32, 32))
        self.assertEqual(got["down_block_additional_residual_8"], (2, 1280, 32, 32))
        self.assertEqual(got["mid_block_additional_residual"], (2, 1280, 32, 32))
        self.assertEqual(len(got), 10)

    def test_odd_sizes_round_up(self):
        got = dict(residual_shapes(1, 33, 47, names="controlnet"))
        self.assertEqual(got["down_block_res_sample_3"], (1, 320, 17, 24))
        self.assertEqual(got["down_block_res_sample_7"], (1, 1280, 9, 12))
        self.assertEqual(got["mid_block_res_sample"], (1, 1280, 9, 12))

    def test_io_shapes_follow_the_plan(self):
        plan = export_plan(SDXL_DIMS)
        ins, outs = io_shapes(plan["unet"], 4, 128, 96)
        self.assertEqual(ins["sample"], (4, 4, 128, 96))
        self.assertEqual(ins["timestep"], (1,))
        self.assertEqual(ins["time_ids"], (4, 6))
        self.assertEqual(outs["attention_probs"], (4, 32 * 24, 77))
        for name, shape in residual_shapes(4, 128, 96):
            self.assertEqual(ins[name], shape)
        ins, outs = io_shapes(plan["controlnet"], 2, 33, 47)
        self.assertEqual(ins["controlnet_cond"], (2, 3, 264, 376))
        self.assertEqual(outs["mid_block_res_sample"], (2, 1280, 9, 12))
        ins, outs = io_shapes(plan["vae_decoder"], 1, 32, 40)
        self.assertEqual((ins["latent_sample"], outs["sample"]), ((1, 4, 32, 40), (1, 3, 256, 320)))
        ins, outs = io_shapes(plan["text_encoder_2"], 1, 1, 1)
        self.assertEqual(outs["hidden_states.31"], (1, 77, 1280))

    def test_bind(self):
        v = bind(2, 33, 47)
        self.assertEqual((v["H"], v["W"], v["h/2"], v["w/4"], v["N"]), (264, 376, 17, 12, 108))

    def test_trace_latent_takes_the_upsample_size_branch(self):
        # diffusers forwards skip sizes to the up-samplers only when a side is not a multiple of 4
        self.assertTrue(any(s % 4 for s in TRACE_LATENT))

    def test_check_latent(self):
        check_latent(1, 1)
        with self.assertRaises(ValueError):
            check_latent(0, 8)


if __name__ == "__main__":
    unittest.main()
