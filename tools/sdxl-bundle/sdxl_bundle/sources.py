"""The public weights: where they come from, pinned to one commit each, loaded as diffusers does.

Needs huggingface_hub, diffusers 0.21.4, transformers (imported lazily). Each component is
loaded on its own (`from_pretrained(repo, subfolder=...)`), which downloads only that
component's config and weights, and freed before the next one is loaded.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

BASE_REPO = "stabilityai/stable-diffusion-xl-base-1.0"
CONTROLNET_REPO = "diffusers/controlnet-canny-sdxl-1.0"
VAE_REPO = "madebyollin/sdxl-vae-fp16-fix"
TOKENIZER_FILES = ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json")


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
        """Pins every repo to a commit so that all components of a repo come from the same one."""
        from huggingface_hub import HfApi

        # Credentials, if a repo ever needs them, come from `huggingface-cli login` / HF_TOKEN.
        api = HfApi()
        for repo in (self.base, self.controlnet, self.vae):
            self.revisions[repo] = api.model_info(repo, revision=self.revisions.get(repo) or "main").sha
        return dict(self.revisions)

    def rev(self, repo: str) -> str:
        return self.revisions.get(repo) or "main"


def configs(src: Sources) -> dict:
    """The configs bundle.json and the layout are computed from (no weights downloaded)."""
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTokenizer

    base = src.rev(src.base)
    unet = UNet2DConditionModel.load_config(src.base, subfolder="unet", revision=base)
    vae = AutoencoderKL.load_config(src.vae, revision=src.rev(src.vae))
    sched = EulerDiscreteScheduler.load_config(src.base, subfolder="scheduler", revision=base)
    te1 = CLIPTextConfig.from_pretrained(src.base, subfolder="text_encoder", revision=base)
    te2 = CLIPTextConfig.from_pretrained(src.base, subfolder="text_encoder_2", revision=base)
    tok = CLIPTokenizer.from_pretrained(src.base, subfolder="tokenizer", revision=base)
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
        revision=src.rev(src.base),
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
        revision=src.rev(src.base),
        torch_dtype=dtype,
        variant=_variant(src, True),
        use_safetensors=True,
    )
    return model.to(device).eval()


def load_controlnet(src: Sources, dtype, device):
    from diffusers import ControlNetModel

    model = ControlNetModel.from_pretrained(
        src.controlnet,
        revision=src.rev(src.controlnet),
        torch_dtype=dtype,
        variant=_variant(src, True),
        use_safetensors=True,
    )
    return model.to(device).eval()


def load_vae(src: Sources, dtype, device):
    from diffusers import AutoencoderKL

    # The fp16-fix VAE publishes one set of weights: never ask it for a variant.
    model = AutoencoderKL.from_pretrained(src.vae, revision=src.rev(src.vae), torch_dtype=dtype, use_safetensors=True)
    return model.to(device).eval()


def copy_tokenizer(src: Sources, which: str, dest: Path) -> Path:
    """Copies the CLIP tokenizer files byte for byte and writes `tokenizer.json` (HF tokenizers format).

    The four files are the slow `CLIPTokenizer`'s, which the reference uses; the runner loads
    `tokenizer.json`, written here as transformers' conversion of the same vocabulary and merges
    (`CLIPTokenizerFast`). The smoke check compares the two on test prompts.
    """
    from huggingface_hub import hf_hub_download
    from transformers import CLIPTokenizerFast

    dest = Path(dest)
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for name in TOKENIZER_FILES:
        path = hf_hub_download(src.base, name, subfolder=which, revision=src.rev(src.base))
        shutil.copyfile(path, dest / name)
    fast = CLIPTokenizerFast.from_pretrained(str(dest))
    fast.backend_tokenizer.save(str(dest / "tokenizer.json"))
    return dest
