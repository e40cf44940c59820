"""The weights: where they come from, pinned to one version each, loaded as diffusers does.

A source is a Hugging Face hub repo id (pinned to a commit) or a local folder in the diffusers
layout (pinned to the content hash of the folder, `folder_revision`: nothing is downloaded, which
is how CI builds the tiny real-architecture SDXL offline). Needs huggingface_hub (hub sources
only), diffusers 0.21.4, transformers (imported lazily). Each component is loaded on its own
(`from_pretrained(source, subfolder=...)`), which downloads only that component's config and
weights, and freed before the next one is loaded.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .clip_tokenizer_json import write_tokenizer_json
from .hashing import folder_revision

BASE_REPO = "stabilityai/stable-diffusion-xl-base-1.0"
CONTROLNET_REPO = "diffusers/controlnet-canny-sdxl-1.0"
VAE_REPO = "madebyollin/sdxl-vae-fp16-fix"
TOKENIZER_FILES = ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json")
# Copied too where the source has it (transformers writes it for tokens added to the vocabulary,
# e.g. SDXL's tokenizer_2 pad token "!").
OPTIONAL_TOKENIZER_FILES = ("added_tokens.json",)


def is_local(source: str) -> bool:
    """A local diffusers folder (an existing directory) rather than a hub repo id."""
    return Path(source).expanduser().is_dir()


@dataclass
class Sources:
    base: str = BASE_REPO
    controlnet: str = CONTROLNET_REPO
    vae: str = VAE_REPO
    # Requested revisions (branch, tag or commit); `resolve()` replaces them by commit hashes.
    revisions: dict = field(default_factory=dict)
    # "fp16" downloads the half-precision files of base and ControlNet where published (half the
    # download); None loads the full-precision files and casts, as the reference does.
    variant: str | None = None

    def resolve(self) -> dict:
        """Pins every source: hub repos to a commit (all components of a repo come from the same
        one), local folders to their content hash (a pinned revision must then match it)."""
        hub = [s for s in (self.base, self.controlnet, self.vae) if not is_local(s)]
        for source in (self.base, self.controlnet, self.vae):
            if is_local(source):
                actual = folder_revision(Path(source))
                asked = self.revisions.get(source)
                if asked and asked != actual:
                    raise SystemExit(f"{source}: content hash {actual} differs from the pinned revision {asked}")
                self.revisions[source] = actual
        if hub:
            from huggingface_hub import HfApi

            # Credentials, if a repo ever needs them, come from `huggingface-cli login` / HF_TOKEN.
            api = HfApi()
            for repo in hub:
                self.revisions[repo] = api.model_info(repo, revision=self.revisions.get(repo) or "main").sha
        return dict(self.revisions)

    def rev(self, repo: str) -> str:
        return self.revisions.get(repo) or "main"

    def load_kwargs(self, source: str) -> dict:
        """`from_pretrained` keyword arguments pinning `source` (a local folder needs none)."""
        return {} if is_local(source) else {"revision": self.rev(source)}

    def label(self, source: str) -> str:
        """How build-info.json names a source: the repo id, or a local folder's name (not its path, so that
        the same folder gives the same bundle hash wherever it lies)."""
        return f"local:{Path(source).resolve().name}" if is_local(source) else source

    def pinned(self) -> dict:
        """{label: revision} of the three sources, for build-info.json."""
        return {self.label(s): self.revisions[s] for s in (self.base, self.controlnet, self.vae)}

    def short(self, source: str) -> str:
        """The pinned revision, abbreviated for bundle.json's version string."""
        rev = self.revisions[source]
        return rev.split(":", 1)[-1][:12]


def local_configs(base: Path, vae: Path) -> dict:
    """What `configs` returns, read straight from local diffusers folders (no diffusers import; for --dry-run)."""
    import json

    def read(path: Path) -> dict:
        return json.loads(Path(path).read_text(encoding="utf-8"))

    tok = read(base / "tokenizer" / "tokenizer_config.json")
    return {
        "unet": read(base / "unet" / "config.json"),
        "vae": read(vae / "config.json"),
        "scheduler": read(base / "scheduler" / "scheduler_config.json"),
        "text_encoder": read(base / "text_encoder" / "config.json"),
        "text_encoder_2": read(base / "text_encoder_2" / "config.json"),
        "max_tokens": int(tok.get("model_max_length", 77)),
    }


def configs(src: Sources) -> dict:
    """The configs bundle.json and the layout are computed from (no weights downloaded)."""
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTokenizer

    base = src.load_kwargs(src.base)
    unet = UNet2DConditionModel.load_config(src.base, subfolder="unet", **base)
    vae = AutoencoderKL.load_config(src.vae, **src.load_kwargs(src.vae))
    sched = EulerDiscreteScheduler.load_config(src.base, subfolder="scheduler", **base)
    te1 = CLIPTextConfig.from_pretrained(src.base, subfolder="text_encoder", **base)
    te2 = CLIPTextConfig.from_pretrained(src.base, subfolder="text_encoder_2", **base)
    tok = CLIPTokenizer.from_pretrained(src.base, subfolder="tokenizer", **base)
    return {
        "unet": dict(unet),
        "vae": dict(vae),
        "scheduler": dict(sched),
        "text_encoder": te1.to_dict(),
        "text_encoder_2": te2.to_dict(),
        "max_tokens": tok.model_max_length,
    }


def _variant(src: Sources, supported: bool):
    return src.variant if supported else None


def load_text_encoder(src: Sources, which: str, dtype, device):
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    cls = CLIPTextModel if which == "text_encoder" else CLIPTextModelWithProjection
    model = cls.from_pretrained(
        src.base,
        subfolder=which,
        **src.load_kwargs(src.base),
        torch_dtype=dtype,
        variant=_variant(src, True),
        use_safetensors=True,
    )
    return model.to(device).eval()


def load_unet(src: Sources, dtype, device):
    from diffusers import UNet2DConditionModel

    model = UNet2DConditionModel.from_pretrained(
        src.base,
        subfolder="unet",
        **src.load_kwargs(src.base),
        torch_dtype=dtype,
        variant=_variant(src, True),
        use_safetensors=True,
    )
    return model.to(device).eval()


def load_controlnet(src: Sources, dtype, device):
    from diffusers import ControlNetModel

    model = ControlNetModel.from_pretrained(
        src.controlnet,
        **src.load_kwargs(src.controlnet),
        torch_dtype=dtype,
        variant=_variant(src, True),
        use_safetensors=True,
    )
    return model.to(device).eval()


def load_vae(src: Sources, dtype, device):
    from diffusers import AutoencoderKL

    # The fp16-fix VAE publishes one set of weights: never ask it for a variant.
    model = AutoencoderKL.from_pretrained(src.vae, **src.load_kwargs(src.vae), torch_dtype=dtype, use_safetensors=True)
    return model.to(device).eval()


def copy_tokenizer(src: Sources, which: str, dest: Path) -> Path:
    """Copies the CLIP tokenizer files byte for byte and writes `tokenizer.json` (HF tokenizers format).

    The copied files are the slow `CLIPTokenizer`'s, which the reference uses; the runner loads
    `tokenizer.json`, written from the same `vocab.json`, `merges.txt` and added tokens as
    transformers' `CLIPTokenizerFast` conversion would (clip_tokenizer_json.py; no fast-tokenizers
    library needed). The smoke check compares the two on test prompts.
    """
    dest = Path(dest)
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    if is_local(src.base):
        folder = Path(src.base) / which
        for name in TOKENIZER_FILES + OPTIONAL_TOKENIZER_FILES:
            if (folder / name).is_file():
                shutil.copyfile(folder / name, dest / name)
            elif name in TOKENIZER_FILES:
                raise SystemExit(f"{folder}: missing tokenizer file {name}")
    else:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.utils import EntryNotFoundError

        for name in TOKENIZER_FILES + OPTIONAL_TOKENIZER_FILES:
            try:
                path = hf_hub_download(src.base, name, subfolder=which, revision=src.rev(src.base))
            except EntryNotFoundError:
                if name in TOKENIZER_FILES:
                    raise
                continue
            shutil.copyfile(path, dest / name)
    write_tokenizer_json(dest)
    return dest
