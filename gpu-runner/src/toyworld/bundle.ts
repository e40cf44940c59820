/**
 * The toy-world bundle in memory: every file (path -> bytes), bundle.json with its content hash.
 * Pure and deterministic: the same code gives the same bytes and therefore the same hash.
 */
import { createHash } from "node:crypto";
import { buildControlNet, buildUnetControlNet } from "./controlnet";
import { buildTextEncoder, buildTextEncoder2 } from "./textEncoders";
import { buildVocabulary, EOS, tokenizerFiles, tokenMeanings } from "./tokenizer";
import { buildUnet } from "./unet";
import { buildVaeDecoder, buildVaeEncoder } from "./vae";
import {
  ATTENTION_DIVISOR,
  BASE_RESOLUTION,
  BUNDLE_NAME,
  D1,
  D2,
  LATENT_CHANNELS,
  MAX_TOKENS,
  POOLED_DIM,
  SCHEDULER,
  VAE_SCALE_FACTOR,
  VAE_SCALING_FACTOR,
  WORLD_VERSION,
} from "./world";

export const COMPONENTS = {
  text_encoder: "text_encoder/model.onnx",
  text_encoder_2: "text_encoder_2/model.onnx",
  unet: "unet/model.onnx",
  controlnet: "controlnet/model.onnx",
  unet_controlnet: "unet_controlnet/model.onnx",
  vae_decoder: "vae_decoder/model.onnx",
  vae_encoder: "vae_encoder/model.onnx",
  tokenizer: "tokenizer",
  tokenizer_2: "tokenizer_2",
} as const;

export interface ToyWorldFiles {
  /** Relative path (forward slashes) -> content, bundle.json included. */
  files: Map<string, Uint8Array>;
  hash: string;
  bundleJson: Record<string, unknown>;
}

const utf8 = new TextEncoder();

/**
 * sha256 over the files other than bundle.json, in sorted path order, each entry as
 * `<path>\n<sha256 hex of its bytes>\n`; so a renamed or changed file changes the hash.
 */
export function bundleHash(files: ReadonlyMap<string, Uint8Array>): string {
  const outer = createHash("sha256");
  for (const path of [...files.keys()].filter((p) => p !== "bundle.json").sort()) {
    const inner = createHash("sha256").update(files.get(path)!).digest("hex");
    outer.update(`${path}\n${inner}\n`);
  }
  return `sha256:${outer.digest("hex")}`;
}

/** Generates the whole bundle in memory (a second or so on one core). */
export function generateToyWorld(): ToyWorldFiles {
  const files = new Map<string, Uint8Array>();
  const vocabulary = buildVocabulary();
  // SDXL's tokenizer pads with EOS, tokenizer_2 with "!" (id 0).
  for (const [folder, pad] of [
    [COMPONENTS.tokenizer, EOS],
    [COMPONENTS.tokenizer_2, "!"],
  ] as const) {
    for (const [name, text] of Object.entries(tokenizerFiles(vocabulary, pad)))
      files.set(`${folder}/${name}`, utf8.encode(text));
  }
  const meaning = tokenMeanings(vocabulary);
  files.set(COMPONENTS.text_encoder, buildTextEncoder(meaning));
  files.set(COMPONENTS.text_encoder_2, buildTextEncoder2(meaning));
  files.set(COMPONENTS.unet, buildUnet());
  files.set(COMPONENTS.controlnet, buildControlNet());
  files.set(COMPONENTS.unet_controlnet, buildUnetControlNet());
  files.set(COMPONENTS.vae_decoder, buildVaeDecoder());
  files.set(COMPONENTS.vae_encoder, buildVaeEncoder());
  const hash = bundleHash(files);
  const bundleJson = {
    format: "accdiff-bundle/2",
    name: BUNDLE_NAME,
    version: WORLD_VERSION,
    hash,
    baseResolution: BASE_RESOLUTION,
    vaeScaleFactor: VAE_SCALE_FACTOR,
    latentChannels: LATENT_CHANNELS,
    vaeScalingFactor: VAE_SCALING_FACTOR,
    dtype: "fp32",
    attentionDivisor: ATTENTION_DIVISOR,
    textEmbedDim: D1 + D2,
    pooledDim: POOLED_DIM,
    maxTokens: MAX_TOKENS,
    scheduler: { ...SCHEDULER },
    controlnet: "canny",
    components: { ...COMPONENTS },
  };
  files.set("bundle.json", utf8.encode(`${JSON.stringify(bundleJson, null, 2)}\n`));
  return { files, hash, bundleJson };
}
