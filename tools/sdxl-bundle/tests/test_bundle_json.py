import json
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sdxl_bundle import bundle_json as bj  # noqa: E402
from sdxl_bundle.layout import SDXL_TEXT_ENCODER_2_CONFIG, SDXL_TEXT_ENCODER_CONFIG, SDXL_UNET_CONFIG, SDXL_VAE_CONFIG  # noqa: E402


def sdxl_bundle(**over):
    b = bj.make_bundle_json(
        name="sdxl-base-1.0",
        version="test",
        content_hash="sha256:" + "0" * 64,
        dtype="fp16",
        model=bj.model_fields(SDXL_UNET_CONFIG, SDXL_VAE_CONFIG, SDXL_TEXT_ENCODER_CONFIG, SDXL_TEXT_ENCODER_2_CONFIG, 77),
        scheduler=bj.scheduler_fields(bj.SDXL_SCHEDULER_CONFIG),
    )
    b.update(over)
    return b


class Fields(unittest.TestCase):
    def test_scheduler(self):
        self.assertEqual(
            bj.scheduler_fields(bj.SDXL_SCHEDULER_CONFIG),
            {
                "numTrainTimesteps": 1000,
                "betaStart": 0.00085,
                "betaEnd": 0.012,
                "betaSchedule": "scaled_linear",
                "timestepSpacing": "leading",
                "stepsOffset": 1,
                "predictionType": "epsilon",
            },
        )

    def test_scheduler_refuses_what_the_runner_cannot_do(self):
        for bad in (
            {"prediction_type": "v_prediction"},
            {"use_karras_sigmas": True},
            {"_class_name": "DDIMScheduler"},
            {"beta_schedule": "squaredcos_cap_v2"},
            {"interpolation_type": "log_linear"},
        ):
            with self.assertRaises(ValueError, msg=str(bad)):
                bj.scheduler_fields(dict(bj.SDXL_SCHEDULER_CONFIG, **bad))

    def test_model_fields(self):
        m = bj.model_fields(SDXL_UNET_CONFIG, SDXL_VAE_CONFIG, SDXL_TEXT_ENCODER_CONFIG, SDXL_TEXT_ENCODER_2_CONFIG, 77)
        self.assertEqual(
            m,
            {
                "baseResolution": 1024,
                "vaeScaleFactor": 8,
                "latentChannels": 4,
                "vaeScalingFactor": 0.13025,
                "attentionDivisor": 32,
                "textEmbedDim": 2048,
                "pooledDim": 1280,
                "maxTokens": 77,
            },
        )
        with self.assertRaises(ValueError):
            bj.model_fields(dict(SDXL_UNET_CONFIG, cross_attention_dim=1024), SDXL_VAE_CONFIG, SDXL_TEXT_ENCODER_CONFIG, SDXL_TEXT_ENCODER_2_CONFIG, 77)


class Document(unittest.TestCase):
    def test_sdxl_bundle_json_is_valid_and_ordered(self):
        b = sdxl_bundle()
        self.assertEqual(bj.validate(b), [])
        self.assertEqual(list(b)[:4], ["format", "name", "version", "hash"])
        self.assertEqual(list(b)[-2:], ["controlnet", "components"])
        self.assertEqual(b["components"]["unet"], "unet/model.onnx")
        self.assertEqual(b["components"]["tokenizer_2"], "tokenizer_2")

    def test_without_controlnet(self):
        b = bj.make_bundle_json(name="x", version="1", content_hash="h", dtype="fp32", model=sdxl_bundle(), scheduler=sdxl_bundle()["scheduler"], controlnet=None)
        self.assertNotIn("controlnet", b)
        self.assertNotIn("controlnet", b["components"])
        self.assertEqual(bj.validate(b), [])

    def test_validate_names_each_problem(self):
        cases = {
            "format": {"format": "accdiff-bundle/9"},
            "hash": {"hash": ""},
            "dtype": {"dtype": "bf16"},
            "maxTokens": {"maxTokens": 2},
            "vaeScalingFactor": {"vaeScalingFactor": 0},
            "attentionDivisor": {"attentionDivisor": 12},
            "baseResolution": {"baseResolution": 1000},
            "components.unet": {"components": dict(bj.COMPONENT_PATHS, unet="/abs/model.onnx")},
            "components.vae_decoder": {"components": dict(bj.COMPONENT_PATHS, vae_decoder="../x/model.onnx")},
            "components.controlnet": {"components": {k: v for k, v in bj.COMPONENT_PATHS.items() if k != "controlnet"}},
            "scheduler.predictionType": {"scheduler": dict(sdxl_bundle()["scheduler"], predictionType="sample")},
        }
        for field, over in cases.items():
            problems = bj.validate(sdxl_bundle(**over))
            self.assertTrue(any(p.startswith(f"bundle.json: {field}:") for p in problems), f"{field}: {problems}")

    def test_write_is_atomic_and_refuses_invalid(self):
        with tempfile.TemporaryDirectory() as d:
            path = bj.write(Path(d), sdxl_bundle())
            text = path.read_text()
            self.assertTrue(text.endswith("}\n"))
            self.assertEqual(json.loads(text), sdxl_bundle())
            self.assertIn('\n  "format": "accdiff-bundle/1",', text)
            self.assertEqual(sorted(p.name for p in Path(d).iterdir()), ["bundle.json"])
            with self.assertRaises(ValueError):
                bj.write(Path(d), sdxl_bundle(dtype="int8"))


if __name__ == "__main__":
    unittest.main()
