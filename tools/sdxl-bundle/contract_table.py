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

from sdxl_bundle.attention_layers import expected_selection  # noqa: E402
from sdxl_bundle.contract import SDXL_DIMS, contract_as_json, export_plan, plan_as_json  # noqa: E402
from sdxl_bundle.layout import SDXL_UNET_CONFIG, attention_layers, residual_layout  # noqa: E402


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
    }


if __name__ == "__main__":
    json.dump(table(), sys.stdout, indent=2)
    sys.stdout.write("\n")
