/**
 * The model bundle contract, machine-readable: every ONNX component's inputs and outputs with
 * their element-type rule and symbolic shape (docs/model-bundle.md says the same in prose).
 *
 * `signatureCheck.ts` compares a loaded model's metadata against these tables; the onnx backend
 * feeds and reads tensors by these names.
 */
import type { OnnxComponent } from "./bundleJson";

/**
 * Element-type rules. `float`: float32 in an fp32 bundle; float16 (or float32, where the model
 * declares it) in an fp16 bundle. `ids`: int32 (int64 accepted). `timestep`: any of
 * float32/float16/int64/int32, the backend converts. `scale`: float32 or float16.
 */
export type ElementRule = "float" | "ids" | "timestep" | "scale" | "boxes";

/**
 * A dimension: a number that must match exactly, or a symbol.
 * Dynamic symbols (must not be fixed): B h w H W N and the down-sampled h/2 w/2 h/4 w/4.
 * `b`: a batch the backend always sends as 1 (fixed 1 or dynamic).
 * Bundle symbols (a fixed value must equal bundle.json): T C D P.
 * Learned symbols (fixed per bundle, consistent across models): D1 D2 R0..R8 RM.
 */
export type Dim = number | string;

export interface TensorSpec {
  readonly name: string;
  readonly rule: ElementRule;
  readonly dims: readonly Dim[];
  readonly doc: string;
}

/** A numbered family of outputs `prefix0 .. prefixL`, L >= minLast (text encoders' hidden states). */
export interface FamilySpec {
  readonly prefix: string;
  readonly rule: ElementRule;
  readonly dims: readonly Dim[];
  readonly minLast: number;
  readonly doc: string;
}

export interface ComponentSpec {
  readonly component: OnnxComponent;
  readonly inputs: readonly TensorSpec[];
  /** All present or all absent; required when the bundle has a ControlNet (unet only). */
  readonly residualInputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /** Outputs the backend does not need; checked when present. */
  readonly optionalOutputs: readonly TensorSpec[];
  /** Outputs whose absence disables a feature: checked when present, a warning when absent. */
  readonly featureOutputs: readonly TensorSpec[];
  readonly families: readonly FamilySpec[];
}

export const DYNAMIC_SYMBOLS = new Set(["B", "h", "w", "H", "W", "N", "h/2", "w/2", "h/4", "w/4", "V", "Hc", "Wc"]);
export const BATCH_OF_ONE = "b";
export const BUNDLE_SYMBOLS = {
  T: "maxTokens",
  C: "latentChannels",
  D: "textEmbedDim",
  P: "pooledDim",
} as const;
/** Learned symbols the backend must know as numbers (it builds zero residuals from them). */
export const MUST_BE_FIXED = /^R(\d+|M)$/;

/**
 * ControlNet residual down-sampling, SDXL's block structure (the toy world copies it): residual k
 * has the spatial size of latent / DOWN_FACTORS[k] (ceil), the mid residual latent / MID_FACTOR.
 */
export const DOWN_FACTORS = [1, 1, 1, 2, 2, 2, 4, 4, 4] as const;
export const MID_FACTOR = 4;

const spatial = (f: number): [string, string] => (f === 1 ? ["h", "w"] : [`h/${f}`, `w/${f}`]);

export const UNET_RESIDUAL_INPUT = (k: number) => `down_block_additional_residual_${k}`;
export const UNET_MID_RESIDUAL_INPUT = "mid_block_additional_residual";
export const CONTROLNET_RESIDUAL_OUTPUT = (k: number) => `down_block_res_sample_${k}`;
export const CONTROLNET_MID_OUTPUT = "mid_block_res_sample";

function residualSpecs(name: (k: number) => string, midName: string, what: string): TensorSpec[] {
  const down = DOWN_FACTORS.map((f, k) => ({
    name: name(k),
    rule: "float" as const,
    dims: ["B", `R${k}`, ...spatial(f)],
    doc: `${what} for down-block skip ${k}`,
  }));
  return [
    ...down,
    { name: midName, rule: "float", dims: ["B", "RM", ...spatial(MID_FACTOR)], doc: `${what}, mid block` },
  ];
}

const UNET_CONDITIONING: readonly TensorSpec[] = [
  { name: "sample", rule: "float", dims: ["B", "C", "h", "w"], doc: "latent model input (already scaled)" },
  { name: "timestep", rule: "timestep", dims: [1], doc: "the scheduler timestep" },
  { name: "encoder_hidden_states", rule: "float", dims: ["B", "T", "D"], doc: "text conditioning" },
  { name: "text_embeds", rule: "float", dims: ["B", "P"], doc: "pooled text embedding (SDXL added cond)" },
  { name: "time_ids", rule: "float", dims: ["B", 6], doc: "SDXL add_time_ids" },
];

export const CONTRACT: Readonly<Record<OnnxComponent, ComponentSpec>> = {
  text_encoder: {
    component: "text_encoder",
    inputs: [{ name: "input_ids", rule: "ids", dims: ["b", "T"], doc: "tokenizer ids" }],
    residualInputs: [],
    outputs: [],
    optionalOutputs: [
      { name: "last_hidden_state", rule: "float", dims: ["b", "T", "D1"], doc: "final layer (unused)" },
      { name: "pooler_output", rule: "float", dims: ["b", "D1"], doc: "EOS-pooled (unused)" },
    ],
    featureOutputs: [],
    families: [
      {
        prefix: "hidden_states.",
        rule: "float",
        dims: ["b", "T", "D1"],
        minLast: 1,
        doc: "embeddings then each layer; the penultimate is used",
      },
    ],
  },
  text_encoder_2: {
    component: "text_encoder_2",
    inputs: [{ name: "input_ids", rule: "ids", dims: ["b", "T"], doc: "tokenizer_2 ids" }],
    residualInputs: [],
    outputs: [{ name: "text_embeds", rule: "float", dims: ["b", "P"], doc: "pooled projection" }],
    optionalOutputs: [
      { name: "last_hidden_state", rule: "float", dims: ["b", "T", "D2"], doc: "final layer (unused)" },
    ],
    featureOutputs: [],
    families: [
      {
        prefix: "hidden_states.",
        rule: "float",
        dims: ["b", "T", "D2"],
        minLast: 1,
        doc: "embeddings then each layer; the penultimate is used",
      },
    ],
  },
  unet: {
    component: "unet",
    inputs: UNET_CONDITIONING,
    residualInputs: residualSpecs(UNET_RESIDUAL_INPUT, UNET_MID_RESIDUAL_INPUT, "ControlNet residual"),
    outputs: [{ name: "out_sample", rule: "float", dims: ["B", "C", "h", "w"], doc: "predicted noise" }],
    optionalOutputs: [],
    featureOutputs: [
      {
        name: "attention_probs",
        rule: "float",
        dims: ["B", "N", "T"],
        doc: "cross-attention probabilities (needed for patch prompts)",
      },
    ],
    families: [],
  },
  controlnet: {
    component: "controlnet",
    inputs: [
      ...UNET_CONDITIONING,
      { name: "controlnet_cond", rule: "float", dims: ["B", 3, "H", "W"], doc: "condition image in [0, 1]" },
      { name: "conditioning_scale", rule: "scale", dims: [1], doc: "multiplies every residual" },
    ],
    residualInputs: [],
    outputs: residualSpecs(CONTROLNET_RESIDUAL_OUTPUT, CONTROLNET_MID_OUTPUT, "scaled residual"),
    optionalOutputs: [],
    featureOutputs: [],
    families: [],
  },
  unet_controlnet: {
    component: "unet_controlnet",
    inputs: [
      ...UNET_CONDITIONING,
      {
        name: "controlnet_cond",
        rule: "float",
        dims: [1, 1, "Hc", "Wc"],
        doc: "rows of the phase's zero-padded single-channel condition that hold the batch's crops",
      },
      { name: "crop_boxes", rule: "boxes", dims: ["V", 2], doc: "(top, left) of each view's 8h x 8w crop, pixels" },
      { name: "conditioning_scale", rule: "scale", dims: [1], doc: "multiplies every residual" },
    ],
    residualInputs: [],
    outputs: [{ name: "out_sample", rule: "float", dims: ["B", "C", "h", "w"], doc: "predicted noise" }],
    optionalOutputs: [],
    featureOutputs: [
      {
        name: "attention_probs",
        rule: "float",
        dims: ["B", "N", "T"],
        doc: "cross-attention probabilities (as the unet's)",
      },
    ],
    families: [],
  },
  vae_decoder: {
    component: "vae_decoder",
    inputs: [{ name: "latent_sample", rule: "float", dims: ["b", "C", "h", "w"], doc: "unscaled latents" }],
    residualInputs: [],
    outputs: [{ name: "sample", rule: "float", dims: ["b", 3, "H", "W"], doc: "image in [-1, 1]" }],
    optionalOutputs: [],
    featureOutputs: [],
    families: [],
  },
  vae_encoder: {
    component: "vae_encoder",
    inputs: [{ name: "sample", rule: "float", dims: ["b", 3, "H", "W"], doc: "image in [-1, 1]" }],
    residualInputs: [],
    outputs: [{ name: "latent_sample", rule: "float", dims: ["b", "C", "h", "w"], doc: "distribution mean, unscaled" }],
    optionalOutputs: [],
    featureOutputs: [],
    families: [],
  },
};

/** The element types a rule accepts in a bundle of the given dtype (first = preferred). */
export function acceptedTypes(rule: ElementRule, dtype: "fp16" | "fp32"): readonly string[] {
  switch (rule) {
    case "float":
      return dtype === "fp32" ? ["float32"] : ["float16", "float32"];
    case "ids":
      return ["int32", "int64"];
    case "timestep":
      return ["float32", "float16", "int64", "int32"];
    case "scale":
      return ["float32", "float16"];
    case "boxes":
      return ["int64", "int32"];
  }
}

/** `[B, 4, h, w]`-style rendering of a contract shape. */
export function formatDims(dims: readonly (number | string)[]): string {
  return `[${dims.map((d) => (d === "" ? "?" : String(d))).join(", ")}]`;
}

/** The spec of an input or output by name (families included), or undefined. */
export function findSpec(
  spec: ComponentSpec,
  io: "input" | "output",
  name: string,
): { spec: TensorSpec | FamilySpec; family: boolean } | undefined {
  const list =
    io === "input"
      ? [...spec.inputs, ...spec.residualInputs]
      : [...spec.outputs, ...spec.optionalOutputs, ...spec.featureOutputs];
  const exact = list.find((t) => t.name === name);
  if (exact) return { spec: exact, family: false };
  if (io === "output") {
    const fam = spec.families.find((f) => name.startsWith(f.prefix) && /^\d+$/.test(name.slice(f.prefix.length)));
    if (fam) return { spec: fam, family: true };
  }
  return undefined;
}
