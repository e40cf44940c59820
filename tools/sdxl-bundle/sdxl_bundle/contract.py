"""The bundle contract's IO table, in Python (pure, no third-party imports).

This mirrors `gpu-runner/src/models/contract.ts` (the TypeScript side is the authority; the test
`gpu-runner/src/models/sdxlContract.test.ts` runs `contract_table.py` and compares the two), and
adds what only the exporter needs: the concrete element type and shape every tensor of the SDXL
export declares, from which `torch.onnx.export`'s input/output names and dynamic axes are made.

Dims are numbers (fixed) or symbols:
  dynamic  B h w H W N h/2 w/2 h/4 w/4  (must stay symbolic in the ONNX file)
  b        a batch the backend always sends as 1 (we keep it dynamic)
  bundle   T C D P                      (fixed numbers equal to bundle.json's fields)
  learned  D1 D2 R0..R8 RM              (fixed numbers, consistent across models)
"""

from __future__ import annotations

from dataclasses import dataclass, field

DYNAMIC_SYMBOLS = frozenset(["B", "h", "w", "H", "W", "N", "h/2", "w/2", "h/4", "w/4", "V", "Hc", "Wc"])
BATCH_OF_ONE = "b"
BUNDLE_SYMBOLS = {"T": "maxTokens", "C": "latentChannels", "D": "textEmbedDim", "P": "pooledDim"}

# ControlNet residual k lives at latent / DOWN_FACTORS[k] (ceil); the mid residual at latent / MID_FACTOR.
DOWN_FACTORS = (1, 1, 1, 2, 2, 2, 4, 4, 4)
MID_FACTOR = 4

COMPONENTS = ("text_encoder", "text_encoder_2", "unet", "controlnet", "vae_decoder", "vae_encoder")
# accdiff-bundle/2: exported after the others when the build makes the fused component (fused.py).
FUSED_COMPONENTS = ("unet_controlnet",)

# Element-type rules (contract.ts `acceptedTypes`): first = preferred.
ACCEPTED_TYPES = {
    ("float", "fp32"): ("float32",),
    ("float", "fp16"): ("float16", "float32"),
    ("ids", "fp32"): ("int32", "int64"),
    ("ids", "fp16"): ("int32", "int64"),
    ("timestep", "fp32"): ("float32", "float16", "int64", "int32"),
    ("timestep", "fp16"): ("float32", "float16", "int64", "int32"),
    ("scale", "fp32"): ("float32", "float16"),
    ("scale", "fp16"): ("float32", "float16"),
    ("boxes", "fp32"): ("int64", "int32"),
    ("boxes", "fp16"): ("int64", "int32"),
}


@dataclass(frozen=True)
class TensorSpec:
    name: str
    rule: str  # "float" | "ids" | "timestep" | "scale"
    dims: tuple
    doc: str = ""


@dataclass(frozen=True)
class FamilySpec:
    """Outputs `prefix0 .. prefixL`, L >= min_last (the text encoders' hidden states)."""

    prefix: str
    rule: str
    dims: tuple
    min_last: int
    doc: str = ""


@dataclass(frozen=True)
class ComponentSpec:
    component: str
    inputs: tuple
    residual_inputs: tuple = ()
    outputs: tuple = ()
    optional_outputs: tuple = ()
    feature_outputs: tuple = ()
    families: tuple = ()


def unet_residual_input(k: int) -> str:
    return f"down_block_additional_residual_{k}"


UNET_MID_RESIDUAL_INPUT = "mid_block_additional_residual"


def controlnet_residual_output(k: int) -> str:
    return f"down_block_res_sample_{k}"


CONTROLNET_MID_OUTPUT = "mid_block_res_sample"


def _spatial(f: int) -> tuple:
    return ("h", "w") if f == 1 else (f"h/{f}", f"w/{f}")


def _residual_specs(name, mid_name: str, what: str) -> tuple:
    down = tuple(
        TensorSpec(name(k), "float", ("B", f"R{k}", *_spatial(f)), f"{what} for down-block skip {k}")
        for k, f in enumerate(DOWN_FACTORS)
    )
    mid = TensorSpec(mid_name, "float", ("B", "RM", *_spatial(MID_FACTOR)), f"{what}, mid block")
    return (*down, mid)


_UNET_CONDITIONING = (
    TensorSpec("sample", "float", ("B", "C", "h", "w"), "latent model input (already scaled)"),
    TensorSpec("timestep", "timestep", (1,), "the scheduler timestep"),
    TensorSpec("encoder_hidden_states", "float", ("B", "T", "D"), "text conditioning"),
    TensorSpec("text_embeds", "float", ("B", "P"), "pooled text embedding (SDXL added cond)"),
    TensorSpec("time_ids", "float", ("B", 6), "SDXL add_time_ids"),
)

_HIDDEN = "embeddings then each layer; the penultimate is used"

CONTRACT = {
    "text_encoder": ComponentSpec(
        "text_encoder",
        inputs=(TensorSpec("input_ids", "ids", ("b", "T"), "tokenizer ids"),),
        optional_outputs=(
            TensorSpec("last_hidden_state", "float", ("b", "T", "D1"), "final layer (unused)"),
            TensorSpec("pooler_output", "float", ("b", "D1"), "EOS-pooled (unused)"),
        ),
        families=(FamilySpec("hidden_states.", "float", ("b", "T", "D1"), 1, _HIDDEN),),
    ),
    "text_encoder_2": ComponentSpec(
        "text_encoder_2",
        inputs=(TensorSpec("input_ids", "ids", ("b", "T"), "tokenizer_2 ids"),),
        outputs=(TensorSpec("text_embeds", "float", ("b", "P"), "pooled projection"),),
        optional_outputs=(TensorSpec("last_hidden_state", "float", ("b", "T", "D2"), "final layer (unused)"),),
        families=(FamilySpec("hidden_states.", "float", ("b", "T", "D2"), 1, _HIDDEN),),
    ),
    "unet": ComponentSpec(
        "unet",
        inputs=_UNET_CONDITIONING,
        residual_inputs=_residual_specs(unet_residual_input, UNET_MID_RESIDUAL_INPUT, "ControlNet residual"),
        outputs=(TensorSpec("out_sample", "float", ("B", "C", "h", "w"), "predicted noise"),),
        feature_outputs=(
            TensorSpec(
                "attention_probs", "float", ("B", "N", "T"), "cross-attention probabilities (needed for patch prompts)"
            ),
        ),
    ),
    "controlnet": ComponentSpec(
        "controlnet",
        inputs=(
            *_UNET_CONDITIONING,
            TensorSpec("controlnet_cond", "float", ("B", 3, "H", "W"), "condition image in [0, 1]"),
            TensorSpec("conditioning_scale", "scale", (1,), "multiplies every residual"),
        ),
        outputs=_residual_specs(controlnet_residual_output, CONTROLNET_MID_OUTPUT, "scaled residual"),
    ),
    # accdiff-bundle/2: ControlNet -> residuals -> UNet in one graph, the condition cropped in-graph.
    "unet_controlnet": ComponentSpec(
        "unet_controlnet",
        inputs=(
            *_UNET_CONDITIONING,
            TensorSpec(
                "controlnet_cond",
                "float",
                (1, 1, "Hc", "Wc"),
                "rows of the phase's zero-padded single-channel condition that hold the batch's crops",
            ),
            TensorSpec("crop_boxes", "boxes", ("V", 2), "(top, left) of each view's 8h x 8w crop, pixels"),
            TensorSpec("conditioning_scale", "scale", (1,), "multiplies every residual"),
        ),
        outputs=(TensorSpec("out_sample", "float", ("B", "C", "h", "w"), "predicted noise"),),
        feature_outputs=(
            TensorSpec("attention_probs", "float", ("B", "N", "T"), "cross-attention probabilities (as the unet's)"),
        ),
    ),
    "vae_decoder": ComponentSpec(
        "vae_decoder",
        inputs=(TensorSpec("latent_sample", "float", ("b", "C", "h", "w"), "unscaled latents"),),
        outputs=(TensorSpec("sample", "float", ("b", 3, "H", "W"), "image in [-1, 1]"),),
    ),
    "vae_encoder": ComponentSpec(
        "vae_encoder",
        inputs=(TensorSpec("sample", "float", ("b", 3, "H", "W"), "image in [-1, 1]"),),
        outputs=(TensorSpec("latent_sample", "float", ("b", "C", "h", "w"), "distribution mean, unscaled"),),
    ),
}


def accepted_types(rule: str, dtype: str) -> tuple:
    return ACCEPTED_TYPES[(rule, dtype)]


def contract_as_json() -> dict:
    """The table with contract.ts's field names (camelCase), for the cross-language test."""

    def tensor(t: TensorSpec) -> dict:
        return {"name": t.name, "rule": t.rule, "dims": list(t.dims)}

    def family(f: FamilySpec) -> dict:
        return {"prefix": f.prefix, "rule": f.rule, "dims": list(f.dims), "minLast": f.min_last}

    return {
        name: {
            "inputs": [tensor(t) for t in spec.inputs],
            "residualInputs": [tensor(t) for t in spec.residual_inputs],
            "outputs": [tensor(t) for t in spec.outputs],
            "optionalOutputs": [tensor(t) for t in spec.optional_outputs],
            "featureOutputs": [tensor(t) for t in spec.feature_outputs],
            "families": [family(f) for f in spec.families],
        }
        for name, spec in CONTRACT.items()
    }


# --- What the SDXL export declares -------------------------------------------------------------


@dataclass(frozen=True)
class ModelDims:
    """The numbers behind the contract's fixed symbols, for one bundle (SDXL below)."""

    T: int
    C: int
    D1: int
    D2: int
    P: int
    L1: int  # text_encoder layers: hidden_states.0 .. hidden_states.L1
    L2: int
    residual_channels: tuple  # R0..R8
    mid_channels: int  # RM

    @property
    def D(self) -> int:
        return self.D1 + self.D2

    def value(self, symbol: str):
        """The number a learned/bundle symbol stands for, or None for a dynamic one."""
        if symbol in ("T", "C", "D", "P", "D1", "D2"):
            return getattr(self, symbol)
        if symbol == "RM":
            return self.mid_channels
        if symbol.startswith("R") and symbol[1:].isdigit():
            return self.residual_channels[int(symbol[1:])]
        return None


SDXL_DIMS = ModelDims(
    T=77,
    C=4,
    D1=768,
    D2=1280,
    P=1280,
    L1=12,
    L2=32,
    residual_channels=(320, 320, 320, 320, 640, 640, 640, 1280, 1280),
    mid_channels=1280,
)


@dataclass(frozen=True)
class ExportTensor:
    name: str
    dtype: str  # "float16" | "float32" | "int32"
    dims: tuple  # numbers for fixed dims, symbol strings for dynamic ones


@dataclass(frozen=True)
class ExportSignature:
    component: str
    inputs: tuple
    outputs: tuple
    notes: tuple = field(default_factory=tuple)

    @property
    def input_names(self) -> list:
        return [t.name for t in self.inputs]

    @property
    def output_names(self) -> list:
        return [t.name for t in self.outputs]

    def dynamic_axes(self) -> dict:
        """`torch.onnx.export(dynamic_axes=...)`: every symbolic dim, named by its contract symbol."""
        axes = {}
        for t in (*self.inputs, *self.outputs):
            named = {i: d for i, d in enumerate(t.dims) if isinstance(d, str)}
            if named:
                axes[t.name] = named
        return axes

    def tensor(self, name: str) -> ExportTensor:
        for t in (*self.inputs, *self.outputs):
            if t.name == name:
                return t
        raise KeyError(f"{self.component}: no tensor '{name}'")


# The element type the SDXL export gives each non-"float" rule, and the float tensors that stay
# float32 in an fp16 bundle (WHY in each case):
#   timestep            diffusers' Timesteps projection works in float32 anyway; integers up to 999
#                       are exact, no reason to round them through fp16.
#   conditioning_scale  multiplied in float32 and rounded once to fp16, which is what PyTorch does
#                       for `fp16_tensor * python_float` (opmath), so the residuals match bit for bit.
#   attention_probs     the mean of 1000 (layer, head) fp16 maps, accumulated and returned in float32
#                       (the reference sums fp16 maps; see docs/sdxl-bundle.md).
RULE_DTYPE = {"ids": "int32", "timestep": "float32", "scale": "float32", "boxes": "int64"}
FLOAT32_IN_FP16 = {("unet", "attention_probs"), ("unet_controlnet", "attention_probs")}


def _resolve(dims: tuple, d: ModelDims) -> tuple:
    out = []
    for x in dims:
        if isinstance(x, int):
            out.append(x)
        elif x in DYNAMIC_SYMBOLS or x == BATCH_OF_ONE:
            out.append(x)
        else:
            v = d.value(x)
            if v is None:
                raise ValueError(f"no value for contract symbol '{x}'")
            out.append(v)
    return tuple(out)


def export_plan(dims: ModelDims = SDXL_DIMS, float_dtype: str = "float16", vae_dtype: str | None = None) -> dict:
    """Every component's exported signature: names in export order, element types, resolved dims.

    `vae_dtype` (default `float_dtype`): float32 when the VAE must run upcast (diffusers'
    `force_upcast`); the fp16-fix VAE does not need it.
    """
    vae_dtype = vae_dtype or float_dtype
    plan = {}
    for name in (*COMPONENTS, *FUSED_COMPONENTS):
        spec = CONTRACT[name]
        ftype = vae_dtype if name.startswith("vae_") else float_dtype

        def typed(t, name=name, ftype=ftype) -> ExportTensor:
            if t.rule == "float":
                dtype = "float32" if (name, t.name) in FLOAT32_IN_FP16 else ftype
            else:
                dtype = RULE_DTYPE[t.rule]
            return ExportTensor(t.name, dtype, _resolve(t.dims, dims))

        inputs = [typed(t) for t in (*spec.inputs, *spec.residual_inputs)]
        outputs = [typed(t) for t in (*spec.outputs, *spec.feature_outputs, *spec.optional_outputs)]
        for fam in spec.families:
            last = dims.L1 if name == "text_encoder" else dims.L2
            proto = typed(TensorSpec(fam.prefix, fam.rule, fam.dims))
            outputs += [ExportTensor(f"{fam.prefix}{k}", proto.dtype, proto.dims) for k in range(last + 1)]
        plan[name] = ExportSignature(name, tuple(inputs), tuple(_export_order(name, outputs)))
    return plan


def _export_order(component: str, outputs: list) -> list:
    """Outputs in the order the wrappers return them (torch.onnx.export names them positionally)."""
    order = {
        "text_encoder": ["last_hidden_state", "pooler_output"],
        "text_encoder_2": ["text_embeds", "last_hidden_state"],
    }.get(component)
    if order is None:
        return outputs
    first = [next(t for t in outputs if t.name == n) for n in order]
    return first + [t for t in outputs if t.name not in order]


def plan_as_json(plan: dict) -> dict:
    return {
        name: {
            "inputs": [{"name": t.name, "dtype": t.dtype, "dims": list(t.dims)} for t in sig.inputs],
            "outputs": [{"name": t.name, "dtype": t.dtype, "dims": list(t.dims)} for t in sig.outputs],
            "dynamicAxes": {k: {str(i): s for i, s in v.items()} for k, v in sig.dynamic_axes().items()},
        }
        for name, sig in plan.items()
    }
