"""Smoke cases on disk and their onnxruntime check (numpy only; onnxruntime is replaced by a stand-in)."""

import importlib.util
import sys
import tempfile
import types
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

HAVE_NUMPY = importlib.util.find_spec("numpy") is not None


class FakeSession:
    """Returns the case's expected outputs, times `factor` (an exact or a wrong model)."""

    factor = 1.0
    expected = {}

    def __init__(self, path, opts, providers):
        self.providers = providers

    def get_providers(self):
        return self.providers

    def run(self, names, feeds):
        assert "sample" in feeds
        return [FakeSession.expected[n] * FakeSession.factor for n in names]


def fake_onnxruntime():
    m = types.ModuleType("onnxruntime")
    m.get_available_providers = lambda: ["CPUExecutionProvider"]
    m.SessionOptions = lambda: types.SimpleNamespace(graph_optimization_level=None)
    m.GraphOptimizationLevel = types.SimpleNamespace(ORT_ENABLE_ALL=99)
    m.InferenceSession = FakeSession
    return m


@unittest.skipUnless(HAVE_NUMPY, "needs numpy")
class Cases(unittest.TestCase):
    def setUp(self):
        import numpy as np

        self.np = np
        rng = np.random.default_rng(0)
        self.inputs = {"sample": rng.standard_normal((1, 4, 3, 5)).astype(np.float32), "timestep": np.array([999.0], np.float32),
                       "ids": np.arange(6, dtype=np.int32).reshape(1, 6), "half": np.ones((2, 2), np.float16)}
        self.outputs = {"sample": rng.standard_normal((1, 3, 24, 40)).astype(np.float32)}

    def test_round_trip_in_the_manifest_format(self):
        from sdxl_bundle.case_files import read_cases, write_case

        with tempfile.TemporaryDirectory() as d:
            folder = write_case(Path(d) / "cases" / "vae_decoder-0", self.inputs, self.outputs)
            self.assertTrue((folder / "manifest.json").is_file())
            inputs, expected = read_cases(Path(d) / "cases")["vae_decoder-0"]
            for k, v in self.inputs.items():
                self.assertEqual(inputs[k].dtype, v.dtype)
                self.np.testing.assert_array_equal(inputs[k], v)
            self.np.testing.assert_array_equal(expected["sample"], self.outputs["sample"])

    def test_the_onnxruntime_check_reads_the_cases_and_fails_a_wrong_model(self):
        from sdxl_bundle import smoke
        from sdxl_bundle.case_files import write_case

        saved = sys.modules.get("onnxruntime")
        sys.modules["onnxruntime"] = fake_onnxruntime()
        try:
            with tempfile.TemporaryDirectory() as d:
                write_case(Path(d) / "cases" / "vae_decoder-0", self.inputs, self.outputs)
                FakeSession.expected = self.outputs
                for factor, failures in ((1.0, 0), (1.01, 1)):
                    FakeSession.factor = factor
                    report = smoke.Report(lambda _line: None)
                    smoke.check_cases_with_ort(Path(d), Path(d), {"vae_decoder": "vae_decoder/model.onnx"}, report, "CPU", "float32")
                    self.assertEqual(len(report.failures), failures, report.failures)
        finally:
            if saved is None:
                sys.modules.pop("onnxruntime", None)
            else:
                sys.modules["onnxruntime"] = saved


if __name__ == "__main__":
    unittest.main()
