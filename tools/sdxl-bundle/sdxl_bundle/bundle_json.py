"""bundle.json: its fields from the diffusers/transformers configs, validation, writing (pure).

The schema is `gpu-runner/src/models/bundleJson.ts` (docs/model-bundle.md); `validate` repeats
its rules so that a build fails here, naming the field, instead of in the runner.
"""

from __future__ import annotations

import json
import os
import posixpath
from pathlib import Path

from .layout import base_resolution, vae_scale_factor

BUNDLE_FORMAT = "accdiff-bundle/1"
# With the fused ControlNet + UNet component (components.unet_controlnet).
BUNDLE_FORMAT_FUSED = "accdiff-bundle/2"
REQUIRED_COMPONENTS = ("text_encoder", "text_encoder_2", "unet", "vae_decoder", "vae_encoder")
ATTENTION_DIVISOR = 32  # the reference's H/32 x W/32 attention maps

# The bundle layout this tool writes (docs/model-bundle.md, "Layout").
COMPONENT_PATHS = {
    "text_encoder": "text_encoder/model.onnx",
    "text_encoder_2": "text_encoder_2/model.onnx",
    "unet": "unet/model.onnx",
    "controlnet": "controlnet/model.onnx",
    "vae_decoder": "vae_decoder/model.onnx",
    "vae_encoder": "vae_encoder/model.onnx",
    "tokenizer": "tokenizer",
    "tokenizer_2": "tokenizer_2",
}

# The public SDXL base 1.0 scheduler config (scheduler/scheduler_config.json), for tests and --dry-run.
SDXL_SCHEDULER_CONFIG = {
    "_class_name": "EulerDiscreteScheduler",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "interpolation_type": "linear",
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "sample_max_value": 1.0,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "trained_betas": None,
    "use_karras_sigmas": False,
}


def scheduler_fields(cfg: dict) -> dict:
    """bundle.json `scheduler` from a diffusers scheduler config; refuses what the runner cannot do."""
    problems = []
    if cfg.get("_class_name", "EulerDiscreteScheduler") != "EulerDiscreteScheduler":
        problems.append(f"scheduler: {cfg.get('_class_name')} (the runner implements EulerDiscreteScheduler)")
    if cfg.get("prediction_type", "epsilon") != "epsilon":
        problems.append(f"scheduler: prediction_type {cfg.get('prediction_type')} (only epsilon)")
    if cfg.get("beta_schedule") not in ("scaled_linear", "linear"):
        problems.append(f"scheduler: beta_schedule {cfg.get('beta_schedule')}")
    if cfg.get("timestep_spacing", "linspace") not in ("leading", "trailing", "linspace"):
        problems.append(f"scheduler: timestep_spacing {cfg.get('timestep_spacing')}")
    if cfg.get("use_karras_sigmas"):
        problems.append("scheduler: use_karras_sigmas (not implemented by the runner)")
    if cfg.get("interpolation_type", "linear") != "linear":
        problems.append(f"scheduler: interpolation_type {cfg.get('interpolation_type')}")
    if cfg.get("trained_betas") is not None:
        problems.append("scheduler: trained_betas (not implemented by the runner)")
    if problems:
        raise ValueError("; ".join(problems))
    return {
        "numTrainTimesteps": int(cfg["num_train_timesteps"]),
        "betaStart": float(cfg["beta_start"]),
        "betaEnd": float(cfg["beta_end"]),
        "betaSchedule": cfg["beta_schedule"],
        "timestepSpacing": cfg.get("timestep_spacing", "linspace"),
        "stepsOffset": int(cfg.get("steps_offset", 0)),
        "predictionType": "epsilon",
    }


def model_fields(unet_cfg: dict, vae_cfg: dict, te1_cfg: dict, te2_cfg: dict, max_tokens: int) -> dict:
    """The numeric bundle.json fields, each from the config diffusers/transformers would use."""
    f = vae_scale_factor(vae_cfg)
    d = int(te1_cfg["hidden_size"]) + int(te2_cfg["hidden_size"])
    if unet_cfg.get("cross_attention_dim") not in (None, d):
        raise ValueError(f"unet cross_attention_dim {unet_cfg.get('cross_attention_dim')} != text widths {d}")
    return {
        "baseResolution": base_resolution(unet_cfg, f),
        "vaeScaleFactor": f,
        "latentChannels": int(unet_cfg["in_channels"]),
        "vaeScalingFactor": float(vae_cfg["scaling_factor"]),
        "attentionDivisor": ATTENTION_DIVISOR,
        "textEmbedDim": d,
        "pooledDim": int(te2_cfg["projection_dim"]),
        "maxTokens": int(max_tokens),
    }


def make_bundle_json(
    *,
    name: str,
    version: str,
    content_hash: str,
    dtype: str,
    model: dict,
    scheduler: dict,
    controlnet: str | None = "canny",
    components: dict | None = None,
) -> dict:
    """bundle.json in the field order of the contract's table."""
    comps = dict(components or COMPONENT_PATHS)
    if not controlnet:
        comps.pop("controlnet", None)
    out = {
        "format": BUNDLE_FORMAT_FUSED if "unet_controlnet" in comps else BUNDLE_FORMAT,
        "name": name,
        "version": version,
        "hash": content_hash,
        "baseResolution": model["baseResolution"],
        "vaeScaleFactor": model["vaeScaleFactor"],
        "latentChannels": model["latentChannels"],
        "vaeScalingFactor": model["vaeScalingFactor"],
        "dtype": dtype,
        "attentionDivisor": model["attentionDivisor"],
        "textEmbedDim": model["textEmbedDim"],
        "pooledDim": model["pooledDim"],
        "maxTokens": model["maxTokens"],
        "scheduler": dict(scheduler),
    }
    if controlnet:
        out["controlnet"] = controlnet
    out["components"] = comps
    return out


def _is_int(v, minimum: int = 1) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= minimum


def _inside(p) -> bool:
    if not isinstance(p, str) or not p or p.startswith("/") or os.path.isabs(p):
        return False
    return ".." not in posixpath.normpath(p.replace("\\", "/")).split("/")


def validate(b: dict) -> list:
    """Problems with a bundle.json object, worded like the runner's (`bundle.json: <field>: ...`)."""
    p = []

    def bad(path: str, msg: str) -> None:
        p.append(f"bundle.json: {path}: {msg}")

    if b.get("format") not in (BUNDLE_FORMAT, BUNDLE_FORMAT_FUSED):
        bad("format", f'must be "{BUNDLE_FORMAT}" or "{BUNDLE_FORMAT_FUSED}"')
    for k in ("name", "version", "hash"):
        if not isinstance(b.get(k), str) or not b.get(k):
            bad(k, "must be a non-empty string")
    for k in ("baseResolution", "vaeScaleFactor", "latentChannels", "attentionDivisor", "textEmbedDim", "pooledDim"):
        if not _is_int(b.get(k)):
            bad(k, "must be a positive integer")
    if not _is_int(b.get("maxTokens"), 3):
        bad("maxTokens", "must be an integer >= 3")
    v = b.get("vaeScalingFactor")
    if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
        bad("vaeScalingFactor", "must be a positive number")
    if b.get("dtype") not in ("fp16", "fp32"):
        bad("dtype", 'must be "fp16" or "fp32"')
    s = b.get("scheduler")
    if not isinstance(s, dict):
        bad("scheduler", "must be an object")
    else:
        if s.get("betaSchedule") not in ("scaled_linear", "linear"):
            bad("scheduler.betaSchedule", "must be scaled_linear or linear")
        if s.get("timestepSpacing") not in ("leading", "trailing", "linspace"):
            bad("scheduler.timestepSpacing", "must be leading, trailing or linspace")
        if s.get("predictionType") != "epsilon":
            bad("scheduler.predictionType", 'must be "epsilon"')
        if not _is_int(s.get("numTrainTimesteps")):
            bad("scheduler.numTrainTimesteps", "must be a positive integer")
        if not _is_int(s.get("stepsOffset"), 0):
            bad("scheduler.stepsOffset", "must be a non-negative integer")
        for k in ("betaStart", "betaEnd"):
            x = s.get(k)
            if not isinstance(x, (int, float)) or isinstance(x, bool) or x <= 0:
                bad(f"scheduler.{k}", "must be a positive number")
    cn = b.get("controlnet")
    if cn not in (None, "canny"):
        bad("controlnet", 'must be "canny", null or absent')
    comps = b.get("components")
    if not isinstance(comps, dict):
        bad("components", "must be an object")
    else:
        for k in REQUIRED_COMPONENTS + (("controlnet",) if cn else ()):
            if k not in comps:
                bad(f"components.{k}", "required")
        for k, path in comps.items():
            if not _inside(path):
                bad(f"components.{k}", "must be a relative path inside the bundle (no absolute path, no '..')")
    if _is_int(b.get("attentionDivisor")) and _is_int(b.get("vaeScaleFactor")):
        if b["attentionDivisor"] % b["vaeScaleFactor"] != 0:
            bad("attentionDivisor", f"must be a multiple of vaeScaleFactor ({b['vaeScaleFactor']})")
        if _is_int(b.get("baseResolution")) and b["baseResolution"] % b["attentionDivisor"] != 0:
            bad("baseResolution", f"must be a multiple of attentionDivisor ({b['attentionDivisor']})")
    return p


def dumps(b: dict) -> str:
    """The file's text: 2-space JSON plus a newline, as the toy-world builder writes it."""
    return json.dumps(b, indent=2, ensure_ascii=False) + "\n"


def write(dir_: Path, b: dict) -> Path:
    """Validates and writes `<dir>/bundle.json` atomically (the runner treats its presence as "built")."""
    problems = validate(b)
    if problems:
        raise ValueError("refusing to write an invalid bundle.json:\n  " + "\n  ".join(problems))
    path = Path(dir_) / "bundle.json"
    tmp = path.with_name(".bundle.json.tmp")
    tmp.write_text(dumps(b), encoding="utf-8")
    os.replace(tmp, path)
    return path
