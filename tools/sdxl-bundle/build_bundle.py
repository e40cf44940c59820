#!/usr/bin/env python3
"""Build the SDXL model bundle (docs/model-bundle.md) from the public weights or local folders.

    python3 tools/sdxl-bundle/build_bundle.py --out /srv/sdxl-bundle

needs a machine with internet access, an NVIDIA GPU (about 12 GB free is plenty) and the pinned
packages of tools/sdxl-bundle/requirements.txt (PyTorch 2.1, diffusers 0.21.4, onnx,
onnxruntime-gpu). It downloads SDXL base 1.0, the SDXL canny ControlNet and the fp16-fix VAE,
exports every component to ONNX (opset 17, fp16) with the contract's names, runs a numerical
smoke check against PyTorch, and writes bundle.json (with the content hash) last: a folder
without bundle.json is an unfinished build. See docs/sdxl-bundle.md.

Offline on a CPU, from local diffusers folders (e.g. the tiny real-architecture SDXL):

    python3 tools/sdxl-bundle/build_bundle.py --out DIR --device cpu --dtype float32 \
        --base MODELS/tiny-sdxl --controlnet MODELS/tiny-sdxl-controlnet --vae MODELS/tiny-sdxl-vae

`--dry-run` prints the plan (every model's signature, the attention layers) without PyTorch.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sdxl_bundle import TOOL_VERSION  # noqa: E402
from sdxl_bundle import bundle_json as bj  # noqa: E402
from sdxl_bundle.attention_layers import expected_selection  # noqa: E402
from sdxl_bundle.contract import export_plan  # noqa: E402
from sdxl_bundle.hashing import bundle_hash  # noqa: E402
from sdxl_bundle.layout import (  # noqa: E402
    SDXL_TEXT_ENCODER_2_CONFIG,
    SDXL_TEXT_ENCODER_CONFIG,
    SDXL_UNET_CONFIG,
    SDXL_VAE_CONFIG,
    attention_layers,
    model_dims,
    vae_export_dtype,
)

BUNDLE_NAME = "sdxl-base-1.0"
REQUIRED_VERSIONS = {"diffusers": "0.21.4"}
# fp16 export needs torch 2.1 (the reference's; CUDA half kernels, the exporter's fp16 handling);
# an fp32 build runs the same diffusers modules in float32 and works on older releases such as
# Debian's python3-torch 1.13 (the CPU build CI runs).
MIN_TORCH = {"float16": (2, 1), "float32": (1, 13)}
BUILD_INFO = "build-info.json"
# The build's steps (sdxl_bundle/steps.py STEPS, which needs PyTorch), for --dry-run.
STEP_NAMES = ("tokenizers", "text encoders", "unet", "controlnet", "vae")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="bundle folder to create (e.g. a Docker volume mounted at /bundle)")
    p.add_argument("--if-missing", action="store_true", help="do nothing when OUT/bundle.json exists; otherwise build, clearing an unfinished build")
    p.add_argument("--force", action="store_true", help="clear OUT first if it holds anything")
    p.add_argument("--work", help="scratch folder for smoke-check cases (default: a temporary folder)")
    p.add_argument("--device", default="cuda", help="PyTorch device for loading and tracing (default cuda; cpu needs --dtype float32)")
    p.add_argument("--dtype", choices=["float16", "float32"], default="float16",
                   help="element type of the exported models (default float16, SDXL on CUDA; float32 for CPU builds)")
    p.add_argument("--base", default="stabilityai/stable-diffusion-xl-base-1.0", help="hub repo id or local diffusers folder")
    p.add_argument("--controlnet", default="diffusers/controlnet-canny-sdxl-1.0", help="hub repo id or local folder")
    p.add_argument("--vae", default="madebyollin/sdxl-vae-fp16-fix", help="hub repo id or local folder")
    p.add_argument("--name", default=BUNDLE_NAME, help=f"bundle.json name (default {BUNDLE_NAME})")
    p.add_argument("--revision", action="append", default=[], metavar="REPO=REV",
                   help="pin a repo to a branch/tag/commit, or a local folder to its content hash (repeatable)")
    p.add_argument("--variant", choices=["fp16"], help="download the fp16 weight files of base and ControlNet (half the download)")
    p.add_argument("--skip-smoke", action="store_true", help="skip the onnxruntime and tokenizer checks (PyTorch-side checks still run)")
    p.add_argument("--allow-other-versions", action="store_true", help="build with package versions other than the pinned ones")
    p.add_argument("--dry-run", action="store_true", help="print the plan and exit (no PyTorch needed)")
    return p.parse_args(argv)


def log(msg: str) -> None:
    print(msg, flush=True)


def plan_configs(args) -> dict:
    """The configs the plan is made from: a local base folder's own files, else SDXL's published ones."""
    from sdxl_bundle.sources import is_local, local_configs

    if is_local(args.base) and is_local(args.vae):
        return local_configs(Path(args.base), Path(args.vae))
    return {"unet": SDXL_UNET_CONFIG, "text_encoder": SDXL_TEXT_ENCODER_CONFIG, "text_encoder_2": SDXL_TEXT_ENCODER_2_CONFIG,
            "vae": SDXL_VAE_CONFIG, "max_tokens": 77}


def print_plan(args) -> None:
    cfg = plan_configs(args)
    dims = model_dims(cfg["unet"], cfg["text_encoder"], cfg["text_encoder_2"], cfg["max_tokens"])
    vae_dtype = "float32" if args.dtype == "float32" else vae_export_dtype(cfg["vae"])
    plan = export_plan(dims, args.dtype, vae_dtype)
    log(f"{TOOL_VERSION}: would build {args.out} ({args.dtype}) from {args.base}, {args.controlnet}, {args.vae}")
    log("steps: resolve revisions -> " + " -> ".join(STEP_NAMES) + " -> onnxruntime smoke check -> build-info.json, hash, bundle.json")
    for name, sig in plan.items():
        log(f"{name}/model.onnx")
        for io, ts in (("in ", sig.inputs), ("out", sig.outputs)):
            for t in ts:
                log(f"  {io} {t.name:34s} {t.dtype:8s} [{', '.join(map(str, t.dims))}]")
    layers = attention_layers(cfg["unet"])
    selected = set(expected_selection(layers))
    chosen = [l for l in layers if l.name in selected]
    pairs = sum(l.heads for l in chosen)
    log(f"attention_probs: mean over {pairs} (layer, head) pairs of {len(chosen)} cross-attention layers at latent/4:")
    for place in ("down", "up"):
        names = [l.name for l in chosen if l.place == place]
        log(f"  {place}: {len(names)} layers, {names[0]} .. {names[-1]}")


def check_versions(allow_other: bool, dtype: str = "float16") -> dict:
    import diffusers
    import onnx
    import torch
    import transformers

    versions = {"torch": torch.__version__, "diffusers": diffusers.__version__, "transformers": transformers.__version__, "onnx": onnx.__version__}
    try:
        import onnxruntime

        versions["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        versions["onnxruntime"] = None
    problems = [f"{k} {versions[k]} (need {v})" for k, v in REQUIRED_VERSIONS.items() if versions[k] != v]
    if torch_release(torch.__version__) < MIN_TORCH[dtype]:
        problems.append(f"torch {torch.__version__} (need >= {'.'.join(map(str, MIN_TORCH[dtype]))} for a {dtype} build)")
    if problems:
        msg = "package versions differ from tools/sdxl-bundle/requirements.txt: " + ", ".join(problems)
        if not allow_other:
            raise SystemExit(msg + " (the wrappers rely on diffusers 0.21.4's module names; --allow-other-versions to try anyway)")
        log("warning: " + msg)
    return versions


def torch_release(version: str) -> tuple:
    """(major, minor) of a torch version string: "2.1.2+cu118" -> (2, 1), Debian's "1.13.0a0" -> (1, 13)."""
    import re

    m = re.match(r"(\d+)\.(\d+)", version)
    if not m:
        raise SystemExit(f"cannot read the torch version {version!r}")
    return int(m.group(1)), int(m.group(2))


def check_device(device: str, dtype: str) -> None:
    if dtype == "float16" and device.split(":")[0] == "cpu":
        raise SystemExit('--device cpu needs --dtype float32 (CPU PyTorch cannot run SDXL in float16: "LayerNormKernelImpl" not implemented for \'Half\')')


def bundle_entries() -> set:
    """Top-level names a (possibly unfinished) build of this tool leaves in its folder."""
    return {p.split("/")[0] for p in bj.COMPONENT_PATHS.values()} | {"bundle.json", BUILD_INFO, ".bundle.json.tmp"}


def foreign_entries(out: Path) -> list:
    """Entries of `out` this tool would not have written (an `--if-missing` rebuild must not delete them)."""
    known = bundle_entries()
    return sorted(p.name for p in out.iterdir() if p.name not in known and not (p.name.startswith(".") and p.name.endswith(".export")))


def prepare_out(out: Path, force: bool, if_missing: bool) -> None:
    """Empties `out` for a build: anything with --force, only an unfinished build with --if-missing."""
    if out.exists() and any(out.iterdir()):
        foreign = foreign_entries(out)
        if not force and not if_missing:
            raise SystemExit(f"{out} is not empty (use --force to rebuild, --if-missing to finish an unfinished build)")
        if not force and foreign:
            raise SystemExit(f"{out} holds files this tool did not write ({', '.join(foreign[:5])}); not clearing it without --force")
        for child in out.iterdir():  # keep the folder itself: it may be a mount point
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    out.mkdir(parents=True, exist_ok=True)


def build(args) -> int:
    out = Path(args.out)
    if args.if_missing and (out / "bundle.json").is_file():
        log(f"{out}/bundle.json exists: nothing to do")
        return 0
    if args.work and Path(args.work).resolve().is_relative_to(out.resolve()):
        raise SystemExit("--work must be outside --out (everything in the bundle folder is hashed)")
    check_device(args.device, args.dtype)
    versions = check_versions(args.allow_other_versions, args.dtype)
    prepare_out(out, force=args.force, if_missing=args.if_missing)

    from sdxl_bundle import sources, steps
    from sdxl_bundle.smoke import Report, check_cases_with_ort, check_tokenizers

    revisions = dict(r.split("=", 1) for r in args.revision)
    src = sources.Sources(args.base, args.controlnet, args.vae, revisions=revisions, variant=args.variant)
    log("resolving revisions")
    for repo, sha in src.resolve().items():
        log(f"  {repo} @ {sha}")
    cfg = sources.configs(src)
    dims = model_dims(cfg["unet"], cfg["text_encoder"], cfg["text_encoder_2"], cfg["max_tokens"])
    # An fp32 build exports everything in float32; an fp16 one keeps the VAE in float32 only where
    # the reference upcasts it.
    vae_dtype = "float32" if args.dtype == "float32" else vae_export_dtype(cfg["vae"])
    plan = export_plan(dims, args.dtype, vae_dtype)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="sdxl-bundle-"))
    report = Report(log)
    ctx = steps.Context(src, plan, out, work, args.device, report, dict(bj.COMPONENT_PATHS), log, dtype=args.dtype,
                        vae_dtype=vae_dtype, configs=cfg)

    for step in steps.STEPS:
        log(step.title(ctx))
        t0 = time.perf_counter()
        step.run(ctx)
        log(f"  ({time.perf_counter() - t0:.1f} s)")
    provider = "CPU" if args.device.split(":")[0] == "cpu" else "CUDA"
    if args.skip_smoke:
        log(f"smoke check skipped (--skip-smoke): run `accdiff bundle check DIR --smoke --provider {provider.lower()}`")
    else:
        log(f"smoke check (onnxruntime {provider} vs PyTorch)")
        check_cases_with_ort(out, work, ctx.components, report, provider, args.dtype)
        check_tokenizers(out, report, dims.T)
    if report.failures:
        log(f"{len(report.failures)} check(s) failed; bundle.json NOT written (files left in {out}, cases in {work}):")
        for f in report.failures:
            log(f"  {f}")
        return 1

    info = {
        "tool": TOOL_VERSION,
        "sources": src.pinned(),
        "variant": args.variant,
        "versions": versions,
        "opset": 17,
        "dtype": args.dtype,
        "vaeDtype": vae_dtype,
        "attentionLayers": ctx.attention_layers,
    }
    (out / BUILD_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    log("hashing")
    content_hash = bundle_hash(out)
    bundle = bj.make_bundle_json(
        name=args.name,
        version=f"{TOOL_VERSION} base@{src.short(src.base)} canny@{src.short(src.controlnet)} vae@{src.short(src.vae)}",
        content_hash=content_hash,
        dtype="fp32" if args.dtype == "float32" else "fp16",
        model=bj.model_fields(cfg["unet"], cfg["vae"], cfg["text_encoder"], cfg["text_encoder_2"], cfg["max_tokens"]),
        scheduler=bj.scheduler_fields(cfg["scheduler"]),
    )
    bj.write(out, bundle)
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    log(f"done: {out} ({content_hash}); check it with: accdiff bundle check {out} --smoke --provider {provider.lower()}")
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.dry_run:
        print_plan(args)
        return 0
    return build(args)


if __name__ == "__main__":
    sys.exit(main())
