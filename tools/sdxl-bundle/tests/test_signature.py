import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sdxl_bundle.contract import SDXL_DIMS, export_plan  # noqa: E402
from sdxl_bundle.signature import signature_problems  # noqa: E402


def as_found(sig):
    """What onnx_signature returns for a faithful export."""
    return {
        "inputs": [(t.name, t.dtype, list(t.dims)) for t in sig.inputs],
        "outputs": [(t.name, t.dtype, list(t.dims)) for t in sig.outputs],
    }


class Signature(unittest.TestCase):
    def setUp(self):
        self.sig = export_plan(SDXL_DIMS)["unet"]

    def test_faithful_export(self):
        self.assertEqual(signature_problems(self.sig, as_found(self.sig)), [])

    def test_any_dim_param_name_is_dynamic(self):
        found = as_found(self.sig)
        found["inputs"][0] = ("sample", "float16", ["", 4, "unk__1", "unk__2"])
        self.assertEqual(signature_problems(self.sig, found), [])

    def test_each_difference_is_reported(self):
        found = as_found(self.sig)
        found["inputs"][0] = ("sample", "float32", [2, 4, "h", "w"])
        found["inputs"][1] = ("timestep", "float32", [1, 1])
        del found["inputs"][2]
        found["inputs"].append(("extra", "float16", [1]))
        found["outputs"][1] = ("attention_probs", "float32", ["B", "N", 76])
        problems = signature_problems(self.sig, found)
        text = "\n".join(problems)
        self.assertIn("input 'sample': element type float32, planned float16", text)
        self.assertIn("input 'sample' dim 0 (B): fixed 2, must be dynamic", text)
        self.assertIn("input 'timestep': rank 2", text)
        self.assertIn("missing input 'encoder_hidden_states'", text)
        self.assertIn("unexpected input 'extra'", text)
        self.assertIn("output 'attention_probs' dim 2: 76, planned 77", text)
        self.assertEqual(len(problems), 6)


if __name__ == "__main__":
    unittest.main()
