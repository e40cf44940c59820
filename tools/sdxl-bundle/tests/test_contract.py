import json
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sdxl_bundle.contract import (  # noqa: E402
    CONTRACT,
    DOWN_FACTORS,
    DYNAMIC_SYMBOLS,
    SDXL_DIMS,
    accepted_types,
    contract_as_json,
    export_plan,
    plan_as_json,
)


class ContractTable(unittest.TestCase):
    def test_components_and_residual_names(self):
        self.assertEqual(
            set(CONTRACT),
            {"text_encoder", "text_encoder_2", "unet", "controlnet", "unet_controlnet", "vae_decoder", "vae_encoder"},
        )
        fused = [t.name for t in CONTRACT["unet_controlnet"].inputs]
        self.assertEqual(fused[-3:], ["controlnet_cond", "crop_boxes", "conditioning_scale"])
        unet = CONTRACT["unet"]
        names = [t.name for t in unet.residual_inputs]
        self.assertEqual(names, [f"down_block_additional_residual_{k}" for k in range(9)] + ["mid_block_additional_residual"])
        outs = [t.name for t in CONTRACT["controlnet"].outputs]
        self.assertEqual(outs, [f"down_block_res_sample_{k}" for k in range(9)] + ["mid_block_res_sample"])

    def test_residual_dims_follow_down_factors(self):
        for k, (t, f) in enumerate(zip(CONTRACT["unet"].residual_inputs, DOWN_FACTORS)):
            spatial = ("h", "w") if f == 1 else (f"h/{f}", f"w/{f}")
            self.assertEqual(t.dims, ("B", f"R{k}", *spatial))
        self.assertEqual(CONTRACT["unet"].residual_inputs[-1].dims, ("B", "RM", "h/4", "w/4"))

    def test_json_form_is_serialisable_with_ts_field_names(self):
        j = json.loads(json.dumps(contract_as_json()))
        self.assertEqual(set(j["unet"]), {"inputs", "residualInputs", "outputs", "optionalOutputs", "featureOutputs", "families"})
        self.assertEqual(j["text_encoder"]["families"][0], {"prefix": "hidden_states.", "rule": "float", "dims": ["b", "T", "D1"], "minLast": 1})

    def test_accepted_types(self):
        self.assertEqual(accepted_types("float", "fp32"), ("float32",))
        self.assertEqual(accepted_types("float", "fp16"), ("float16", "float32"))
        self.assertIn("int32", accepted_types("ids", "fp16"))


class SdxlExportPlan(unittest.TestCase):
    def setUp(self):
        self.plan = export_plan(SDXL_DIMS)

    def test_every_declared_type_is_accepted_by_the_contract(self):
        for name, sig in self.plan.items():
            spec = CONTRACT[name]
            rules = {t.name: t.rule for t in (*spec.inputs, *spec.residual_inputs, *spec.outputs, *spec.optional_outputs, *spec.feature_outputs)}
            for t in (*sig.inputs, *sig.outputs):
                rule = rules.get(t.name) or next(f.rule for f in spec.families if t.name.startswith(f.prefix))
                self.assertIn(t.dtype, accepted_types(rule, "fp16"), f"{name}.{t.name}")

    def test_float_tensors_are_fp16_except_the_documented_ones(self):
        fp32 = {(c, t.name) for c, s in self.plan.items() for t in (*s.inputs, *s.outputs) if t.dtype == "float32"}
        self.assertEqual(fp32, {
            ("unet", "timestep"), ("controlnet", "timestep"), ("controlnet", "conditioning_scale"), ("unet", "attention_probs"),
            ("unet_controlnet", "timestep"), ("unet_controlnet", "conditioning_scale"), ("unet_controlnet", "attention_probs"),
        })
        self.assertEqual(self.plan["unet_controlnet"].tensor("crop_boxes").dtype, "int64")
        self.assertEqual(self.plan["text_encoder"].tensor("input_ids").dtype, "int32")

    def test_fixed_dims_are_resolved_and_dynamic_ones_kept(self):
        unet = self.plan["unet"]
        self.assertEqual(unet.tensor("encoder_hidden_states").dims, ("B", 77, 2048))
        self.assertEqual(unet.tensor("down_block_additional_residual_6").dims, ("B", 640, "h/4", "w/4"))
        self.assertEqual(unet.tensor("attention_probs").dims, ("B", "N", 77))
        self.assertEqual(unet.tensor("timestep").dims, (1,))
        for sig in self.plan.values():
            for t in (*sig.inputs, *sig.outputs):
                for d in t.dims:
                    self.assertTrue(isinstance(d, int) or d in DYNAMIC_SYMBOLS or d == "b", f"{sig.component}.{t.name}: {d}")

    def test_dynamic_axes(self):
        axes = self.plan["unet"].dynamic_axes()
        self.assertEqual(axes["sample"], {0: "B", 2: "h", 3: "w"})
        self.assertEqual(axes["attention_probs"], {0: "B", 1: "N"})
        self.assertEqual(axes["down_block_additional_residual_3"], {0: "B", 2: "h/2", 3: "w/2"})
        self.assertNotIn("timestep", axes)
        self.assertNotIn("conditioning_scale", self.plan["controlnet"].dynamic_axes())
        self.assertEqual(self.plan["controlnet"].dynamic_axes()["controlnet_cond"], {0: "B", 2: "H", 3: "W"})
        self.assertEqual(self.plan["text_encoder"].dynamic_axes()["input_ids"], {0: "b"})

    def test_output_order_matches_the_wrappers(self):
        te1 = self.plan["text_encoder"].output_names
        self.assertEqual(te1[:3], ["last_hidden_state", "pooler_output", "hidden_states.0"])
        self.assertEqual(te1[-1], "hidden_states.12")
        self.assertEqual(len(te1), 2 + 13)
        te2 = self.plan["text_encoder_2"].output_names
        self.assertEqual(te2[:2], ["text_embeds", "last_hidden_state"])
        self.assertEqual(len(te2), 2 + 33)
        self.assertEqual(self.plan["unet"].output_names, ["out_sample", "attention_probs"])
        self.assertEqual(self.plan["unet"].input_names[:5], ["sample", "timestep", "encoder_hidden_states", "text_embeds", "time_ids"])
        self.assertEqual(len(self.plan["unet"].input_names), 15)
        self.assertEqual(self.plan["controlnet"].input_names[-2:], ["controlnet_cond", "conditioning_scale"])

    def test_names_are_unique(self):
        for sig in self.plan.values():
            names = sig.input_names + sig.output_names
            self.assertEqual(len(names), len(set(names)), sig.component)

    def test_upcast_vae_is_float32(self):
        plan = export_plan(SDXL_DIMS, "float16", "float32")
        self.assertEqual(plan["vae_decoder"].tensor("latent_sample").dtype, "float32")
        self.assertEqual(plan["unet"].tensor("sample").dtype, "float16")

    def test_plan_json(self):
        j = plan_as_json(self.plan)
        self.assertEqual(j["unet"]["dynamicAxes"]["sample"], {"0": "B", "2": "h", "3": "w"})
        self.assertEqual(j["vae_encoder"]["outputs"], [{"name": "latent_sample", "dtype": "float16", "dims": ["b", 4, "h", "w"]}])

    def test_unknown_symbol_is_an_error(self):
        self.assertIsNone(SDXL_DIMS.value("h"))
        self.assertEqual(SDXL_DIMS.value("R4"), 640)
        self.assertEqual(SDXL_DIMS.value("RM"), 1280)
        self.assertEqual(SDXL_DIMS.D, 2048)


if __name__ == "__main__":
    unittest.main()
