#!/usr/bin/env python3
"""Prints the Python side's contract table and SDXL export plan as JSON (stdlib only).

gpu-runner/src/models/sdxlContract.test.ts compares it with gpu-runner/src/models/contract.ts,
so the exporter and the runner cannot drift apart unnoticed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sdxl_bundle import bundle_json as bj  # noqa: E402
from sdxl_bundle.attention_layers import expected_selection  # noqa: E402
from sdxl_bundle.contract import SDXL_DIMS, contract_as_json, export_plan, plan_as_json  # noqa: E402
from sdxl_bundle.layout import (  # noqa: E402
    SDXL_TEXT_ENCODER_2_CONFIG,
    SDXL_TEXT_ENCODER_CONFIG,
    SDXL_UNET_CONFIG,
    SDXL_VAE_CONFIG,
    attention_layers,
    residual_layout,
)


def table() -> dict:
    down, mid = residual_layout(SDXL_UNET_CONFIG)
    return {
        "contract": contract_as_json(),
        "sdxlExport": plan_as_json(export_plan(SDXL_DIMS)),
        "sdxlDims": {
            "T": SDXL_DIMS.T,
            "C": SDXL_DIMS.C,
            "D": SDXL_DIMS.D,
            "P": SDXL_DIMS.P,
            "D1": SDXL_DIMS.D1,
            "D2": SDXL_DIMS.D2,
            "residualFactors": [r.factor for r in down],
            "midFactor": mid.factor,
        },
        "attentionLayers": expected_selection(attention_layers(SDXL_UNET_CONFIG)),
        # What build_bundle.py writes for the published SDXL configs (hash and version are placeholders).
        "exampleBundleJson": bj.make_bundle_json(
            name="sdxl-base-1.0",
            version="example",
            content_hash="sha256:" + "0" * 64,
            dtype="fp16",
            model=bj.model_fields(
                SDXL_UNET_CONFIG, SDXL_VAE_CONFIG, SDXL_TEXT_ENCODER_CONFIG, SDXL_TEXT_ENCODER_2_CONFIG, 77
            ),
            scheduler=bj.scheduler_fields(bj.SDXL_SCHEDULER_CONFIG),
        ),
    }


if __name__ == "__main__":
    json.dump(table(), sys.stdout, indent=2)
    sys.stdout.write("\n")
