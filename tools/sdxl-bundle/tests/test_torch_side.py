"""The PyTorch side on a toy network (needs torch, numpy and onnx; skipped where they are missing).

No diffusers here: `ToyAttention` provides the part of diffusers' `Attention` interface that the
processors use (to_q/k/v, to_out, heads, scale, head_to_batch_dim, ...), and `ToyNet` the
`attn_processors` / `set_attn_processor` pair of a UNet, with diffusers-style layer names. What
is tested is our code: the explicit attention, the recorder against the reference-style store,
and the export of a wrapped model with dynamic axes and external data.
"""

import importlib.util
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

HAVE = all(importlib.util.find_spec(m) is not None for m in ("torch", "numpy", "onnx"))

if HAVE:
    import numpy as np
    import torch

    from sdxl_bundle import export_onnx
    from sdxl_bundle.attention_layers import attention_pixels, select_attention_layers
    from sdxl_bundle.contract import ExportSignature, ExportTensor
    from sdxl_bundle.contract import SDXL_DIMS, export_plan
    from sdxl_bundle.shapes import residual_shapes
    from sdxl_bundle.case_files import read_cases
    from sdxl_bundle.smoke import Report, make_inputs, metrics, save_case, unet_fill
    from sdxl_bundle.torch_attention import (
        AttentionRecorder,
        ExplicitAttnProcessor,
        ReferenceStyleStore,
        install_processors,
        probe_listener,
    )

    class ToyAttention(torch.nn.Module):
        def __init__(self, dim, heads, context_dim=None):
            super().__init__()
            self.heads = heads
            self.scale = (dim // heads) ** -0.5
            self.upcast_attention = False
            self.upcast_softmax = False
            self.spatial_norm = None
            self.group_norm = None
            self.residual_connection = False
            self.norm_cross = None
            self.rescale_output_factor = 1.0
            self.to_q = torch.nn.Linear(dim, dim, bias=False)
            self.to_k = torch.nn.Linear(context_dim or dim, dim, bias=False)
            self.to_v = torch.nn.Linear(context_dim or dim, dim, bias=False)
            self.to_out = torch.nn.ModuleList([torch.nn.Linear(dim, dim), torch.nn.Dropout(0.0)])
            self.processor = None

        def head_to_batch_dim(self, t):
            b, s, d = t.shape
            return t.reshape(b, s, self.heads, d // self.heads).permute(0, 2, 1, 3).reshape(b * self.heads, s, d // self.heads)

        def batch_to_head_dim(self, t):
            bh, s, d = t.shape
            b = bh // self.heads
            return t.reshape(b, self.heads, s, d).permute(0, 2, 1, 3).reshape(b, s, d * self.heads)

        def forward(self, x, encoder_hidden_states=None):
            return self.processor(self, x, encoder_hidden_states=encoder_hidden_states)

    # name -> (dim, heads, cross, factor): the factor-4 down/up cross layers have different head
    # counts on purpose (the divisor must count (layer, head) pairs, as the reference's cat does).
    LAYERS = {
        "down_blocks.0.attentions.0.transformer_blocks.0.attn1": (16, 2, False, 2),
        "down_blocks.0.attentions.0.transformer_blocks.0.attn2": (16, 2, True, 2),
        "down_blocks.1.attentions.0.transformer_blocks.0.attn2": (32, 4, True, 4),
        "down_blocks.1.attentions.0.transformer_blocks.0.attn1": (32, 4, False, 4),
        "mid_block.attentions.0.transformer_blocks.0.attn2": (32, 4, True, 4),
        "up_blocks.0.attentions.0.transformer_blocks.0.attn2": (32, 2, True, 4),
        "up_blocks.0.attentions.1.transformer_blocks.0.attn2": (32, 8, True, 4),
        "up_blocks.1.attentions.0.transformer_blocks.0.attn2": (16, 2, True, 2),
    }
    TOKENS, CONTEXT = 7, 12

    class ToyNet(torch.nn.Module):
        """Runs every layer on a feature map at latent / factor, with diffusers' processor names."""

        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.layers = torch.nn.ModuleDict(
                {n.replace(".", "_"): ToyAttention(d, h, CONTEXT if c else None) for n, (d, h, c, f) in LAYERS.items()}
            )
            self.proj = torch.nn.ModuleDict({str(d): torch.nn.Conv2d(4, d, 1) for d in (16, 32)})

        @property
        def attn_processors(self):
            return {f"{n}.processor": self.layers[n.replace(".", "_")].processor for n in LAYERS}

        def set_attn_processor(self, procs):
            assert set(procs) == set(self.attn_processors)
            for n in LAYERS:
                self.layers[n.replace(".", "_")].processor = procs[f"{n}.processor"]

        def forward(self, sample, context):
            out = []
            for n, (d, h, cross, f) in LAYERS.items():
                x = self.proj[str(d)](torch.nn.functional.avg_pool2d(sample, f, ceil_mode=True) if f > 1 else sample)
                b, c, hh, ww = x.shape
                x = x.permute(0, 2, 3, 1).reshape(b, hh * ww, c)  # row-major pixels, as Transformer2DModel
                y = self.layers[n.replace(".", "_")](x, context if cross else None)
                out.append(y.mean())
            return torch.stack(out).sum()

    class ExportWrapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = ToyNet().eval()
            self.rec = AttentionRecorder(["up_blocks.0.attentions.1.transformer_blocks.0.attn2.processor"])
            install_processors(self.net, self.rec.listener_for)
            self.down = torch.nn.Conv2d(4, 8, 3, stride=2, padding=1)

        def forward(self, sample, context, scale):
            self.rec.reset()
            total = self.net(sample, context)
            return sample * total, self.down(sample) * scale, self.rec.mean()

    EXPORT_SIG = ExportSignature(
        "toy",
        (
            ExportTensor("sample", "float32", ("B", 4, "h", "w")),
            ExportTensor("context", "float32", ("B", TOKENS, CONTEXT)),
            ExportTensor("scale", "float32", (1,)),
        ),
        (
            ExportTensor("out_sample", "float32", ("B", 4, "h", "w")),
            ExportTensor("down_1", "float32", ("B", 8, "h/2", "w/2")),
            ExportTensor("attention_probs", "float32", ("B", "N", TOKENS)),
        ),
    )


@unittest.skipUnless(HAVE, "needs torch, numpy and onnx")
class ExplicitAttention(unittest.TestCase):
    def test_matches_textbook_multi_head_attention(self):
        torch.manual_seed(1)
        attn = ToyAttention(32, 4, CONTEXT)
        attn.processor = ExplicitAttnProcessor("x")
        x, ctx = torch.randn(3, 10, 32), torch.randn(3, TOKENS, CONTEXT)
        q = attn.to_q(x).reshape(3, 10, 4, 8)
        k = attn.to_k(ctx).reshape(3, TOKENS, 4, 8)
        v = attn.to_v(ctx).reshape(3, TOKENS, 4, 8)
        p = torch.softmax(torch.einsum("bshd,bthd->bhst", q, k) / 8**0.5, dim=-1)
        want = attn.to_out[0](torch.einsum("bhst,bthd->bshd", p, v).reshape(3, 10, 32))
        self.assertLess((attn(x, ctx) - want).abs().max().item(), 1e-5)

    def test_refuses_what_it_does_not_implement(self):
        attn = ToyAttention(16, 2)
        attn.residual_connection = True
        with self.assertRaises(NotImplementedError):
            ExplicitAttnProcessor("x")(attn, torch.randn(1, 4, 16))


@unittest.skipUnless(HAVE, "needs torch, numpy and onnx")
class RecorderAgainstReferenceStore(unittest.TestCase):
    def run_net(self, listener_for, h=12, w=20, batch=2, seed=2):
        net = ToyNet().eval()
        install_processors(net, listener_for)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            net(torch.randn(batch, 4, h, w, generator=g), torch.randn(batch, TOKENS, CONTEXT, generator=g))

    def test_selection_then_recorded_mean_equals_the_reference_aggregation(self):
        calls = []
        self.run_net(lambda n: probe_listener(calls), h=13, w=21)
        selected = select_attention_layers(calls, 13, 21)
        self.assertEqual(
            selected,
            [f"{n}.processor" for n in ("down_blocks.1.attentions.0.transformer_blocks.0.attn2", "up_blocks.0.attentions.0.transformer_blocks.0.attn2", "up_blocks.0.attentions.1.transformer_blocks.0.attn2")],
        )
        rec = AttentionRecorder(selected)
        self.run_net(rec.listener_for)
        self.assertEqual((rec.layers, rec.pairs), (3, 4 + 2 + 8))
        ours = rec.mean()
        store = ReferenceStyleStore()
        self.run_net(store.listener_for)
        pixels = attention_pixels(12, 20, 4)
        self.assertEqual(tuple(ours.shape), (2, pixels, TOKENS))
        for row in range(2):
            self.assertLess((ours[row] - store.aggregate(row, pixels)).abs().max().item(), 1e-6)
        self.assertLess((ours.sum(-1) - 1).abs().max().item(), 1e-5)
        # a plain mean of per-layer head means would weigh the 2-head layer like the 8-head one
        self.assertFalse(torch.allclose(ours, rec.total / (rec.layers * 4)))


@unittest.skipUnless(HAVE, "needs torch, numpy and onnx")
class Export(unittest.TestCase):
    def export(self, d, limit):
        old = export_onnx.SINGLE_FILE_LIMIT
        export_onnx.SINGLE_FILE_LIMIT = limit
        try:
            args = (torch.randn(2, 4, 10, 14), torch.randn(2, TOKENS, CONTEXT), torch.tensor([0.5]))
            return export_onnx.export_component(ExportWrapper(), args, EXPORT_SIG, Path(d) / "toy", log=lambda m: None)
        finally:
            export_onnx.SINGLE_FILE_LIMIT = old

    def test_signature_and_dynamic_axes(self):
        with tempfile.TemporaryDirectory() as d:
            path = self.export(d, 1 << 40)
            self.assertEqual(sorted(p.name for p in path.parent.iterdir()), ["model.onnx"])
            self.assertFalse((Path(d) / ".toy.export").exists())
            sig = export_onnx.onnx_signature(path)
            self.assertEqual(sig["inputs"][0], ("sample", "float32", ["B", 4, "h", "w"]))
            self.assertEqual(sig["outputs"][1], ("down_1", "float32", ["B", 8, "h/2", "w/2"]))
            self.assertEqual(sig["outputs"][2], ("attention_probs", "float32", ["B", "N", TOKENS]))

    def test_large_models_get_one_external_data_file(self):
        with tempfile.TemporaryDirectory() as d:
            path = self.export(d, 0)
            self.assertEqual(sorted(p.name for p in path.parent.iterdir()), ["model.onnx", "model.onnx_data"])
            self.assertGreater((path.parent / "model.onnx_data").stat().st_size, 1000)


@unittest.skipUnless(HAVE, "needs torch, numpy and onnx")
class SmokeHelpers(unittest.TestCase):
    def test_metrics_and_report(self):
        m = metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0]))
        self.assertAlmostEqual(m["max_abs"], 1.0)
        self.assertAlmostEqual(m["rel_l2"], 1 / np.sqrt(21))
        lines = []
        r = Report(lines.append)
        self.assertTrue(r.check("a", {"rel_l2": 0.001}, {"rel_l2": 0.01}))
        self.assertFalse(r.check("b", {"rel_l2": 0.1}, {"rel_l2": 0.01}))
        self.assertFalse(r.check("c", {"rel_l2": float("nan")}, {"rel_l2": 0.01}))
        self.assertEqual(len(r.failures), 2)
        self.assertTrue(lines[1].startswith("  FAIL b: rel_l2 0.1 (limit 0.01)"))

    def test_the_dry_run_lists_the_build_steps(self):
        import build_bundle
        from sdxl_bundle import steps

        self.assertEqual(tuple(s.name for s in steps.STEPS), build_bundle.STEP_NAMES)

    def test_metrics_take_torch_half_tensors(self):
        a = torch.tensor([1.0, 2.0], dtype=torch.float16)
        self.assertEqual(metrics(a, torch.tensor([1.0, 2.5]))["max_abs"], 0.5)

    def test_seeded_inputs_follow_the_plan_and_cases_round_trip(self):
        sig = export_plan(SDXL_DIMS)["unet"]
        x = make_inputs(sig, 2, 9, 13, seed=3, device="cpu", fill=unet_fill(999.0, 0.1, 3))
        self.assertEqual(x["timestep"].dtype, torch.float32)
        self.assertEqual(x["timestep"].tolist(), [999.0])
        self.assertEqual(x["sample"].dtype, torch.float16)
        self.assertEqual(x["time_ids"].tolist(), [[1024.0, 1024.0, 0.0, 0.0, 1024.0, 1024.0]] * 2)
        for name, shape in residual_shapes(2, 9, 13):
            self.assertEqual(tuple(x[name].shape), shape)
        self.assertLess(x["down_block_additional_residual_0"].float().std().item(), 0.2)
        again = make_inputs(sig, 2, 9, 13, seed=3, device="cpu", fill=unet_fill(999.0, 0.1, 3))
        self.assertTrue(torch.equal(x["sample"], again["sample"]))
        with tempfile.TemporaryDirectory() as d:
            path = save_case(Path(d), "unet-0", x, {"out_sample": x["sample"] * 2})
            self.assertEqual(path.name, "unet-0")
            self.assertTrue((path / "manifest.json").is_file())
            inputs, expected = read_cases(Path(d) / "cases")["unet-0"]
            self.assertEqual(inputs["sample"].dtype, np.float16)
            self.assertEqual(inputs["timestep"].dtype, np.float32)
            self.assertEqual(expected["out_sample"].dtype, np.float32)
            np.testing.assert_array_equal(inputs["sample"], x["sample"].numpy())
            np.testing.assert_array_equal(expected["out_sample"], (x["sample"] * 2).float().numpy())


if __name__ == "__main__":
    unittest.main()
