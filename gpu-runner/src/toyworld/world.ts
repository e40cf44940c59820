/**
 * The toy world's design: its things, their colours and shapes, the latent space, the noise
 * schedule and the constants of its denoiser. Every model of the bundle is built from these
 * numbers, and tests read them to know what a correct picture looks like (README.md explains).
 */
import { SDXL_SCHEDULER_CONFIG } from "../models/sdxlScheduler";

/** Something a prompt can name. Objects are boxes of one colour; the lawn is the background. */
export interface ThingSpec {
  readonly name: string;
  /** Words (whole CLIP tokens) that name it. */
  readonly words: readonly string[];
  /** Decoded colour, RGB in [-1, 1]. */
  readonly rgb: readonly [number, number, number];
  /** Box half-width and half-height as multiples of the placement size (objects only). */
  readonly aspect: readonly [number, number];
}

/** Objects in denoising order (later objects avoid the earlier ones), then the background last. */
export const THINGS: readonly ThingSpec[] = [
  { name: "cat", words: ["cat", "cats", "kitten"], rgb: [0.9, 0.45, -0.75], aspect: [1, 1] },
  { name: "dog", words: ["dog", "dogs", "puppy"], rgb: [-0.45, -0.25, 0.85], aspect: [1.3, 0.8] },
  { name: "ball", words: ["ball", "balls"], rgb: [0.85, -0.7, 0.45], aspect: [0.6, 0.6] },
  { name: "tree", words: ["tree", "trees"], rgb: [-0.55, -0.7, -0.9], aspect: [0.55, 1.4] },
  { name: "lawn", words: ["lawn", "lawns", "grass", "garden", "field"], rgb: [-0.35, 0.45, -0.55], aspect: [0, 0] },
];
export const OBJECTS = THINGS.slice(0, 4);
export const BACKGROUND = THINGS[4];
export const NUM_THINGS = THINGS.length;
export const NUM_OBJECTS = OBJECTS.length;

/** Words with their own token (so patch prompts built from decoded tokens stay readable). */
export const FUNCTION_WORDS: readonly string[] = [
  "a",
  "an",
  "the",
  "and",
  "on",
  "in",
  "of",
  "with",
  "at",
  "to",
  "by",
  "near",
  "under",
  "next",
  "two",
  "one",
  "photo",
  "picture",
  "image",
  "sitting",
  "playing",
  "standing",
  "lying",
  "green",
  "big",
  "small",
  "cute",
  "high",
  "quality",
  "detailed",
  "best",
  "masterpiece",
  "blurry",
  "ugly",
  "duplicate",
  "poorly",
  "drawn",
  "deformed",
  "mosaic",
  "beautiful",
  "sunny",
  "day",
  "park",
  "scene",
  "view",
  "realistic",
  "bad",
  "low",
  // Words of the demo prompt "a cat and a dog are playing on the lawn" and other common verbs and places.
  "are",
  "is",
  "running",
  "jumping",
  "together",
  "grass",
  "field",
  "garden",
];

export const BUNDLE_NAME = "toy-world";
/** Bump when the world's design changes (part of bundle.json's version). */
export const WORLD_VERSION = "1";
export const BASE_RESOLUTION = 512;
export const VAE_SCALE_FACTOR = 8;
export const LATENT_CHANNELS = 4;
/** UNet latents = VAE latents x this (like SDXL's 0.13025; not 1 so a missed scaling shows). */
export const VAE_SCALING_FACTOR = 0.5;
export const ATTENTION_DIVISOR = 32;
/** Latent pixels per attention-map pixel. */
export const ATTENTION_POOL = ATTENTION_DIVISOR / VAE_SCALE_FACTOR;
export const MAX_TOKENS = 77;
/** Widths of text_encoder and text_encoder_2 hidden states; their sum is textEmbedDim. */
export const D1 = 16;
export const D2 = 16;
export const POOLED_DIM = 16;
/** Layers of each text encoder (hidden_states.0 .. hidden_states.L). */
export const TEXT_LAYERS = 3;
/** ControlNet residual channels, SDXL's 320/640/1280 scaled down; indices 0..8 then mid. */
export const RESIDUAL_CHANNELS: readonly number[] = [8, 8, 8, 8, 16, 16, 16, 32, 32, 32];
export const RESIDUAL_FACTORS: readonly number[] = [1, 1, 1, 2, 2, 2, 4, 4, 4, 4];
/** How much each residual contributes to the edge map the UNet reads back (sums to 1). */
export const RESIDUAL_WEIGHTS: readonly number[] = [0.2, 0.2, 0.2, 0.1, 0.1, 0.1, 0.025, 0.025, 0.025, 0.025];

export const SCHEDULER = { ...SDXL_SCHEDULER_CONFIG };

/** The SDXL noise levels sigma(t) = sqrt((1 - abar_t) / abar_t), t = 0..999 (float64 then rounded). */
export function sigmaTable(): Float32Array {
  const n = SCHEDULER.numTrainTimesteps;
  const a = Math.sqrt(SCHEDULER.betaStart);
  const b = Math.sqrt(SCHEDULER.betaEnd);
  const out = new Float32Array(n);
  let abar = 1;
  for (let t = 0; t < n; t++) {
    const sqrtBeta = a + ((b - a) * t) / (n - 1);
    abar *= 1 - sqrtBeta * sqrtBeta;
    out[t] = Math.sqrt((1 - abar) / abar);
  }
  return out;
}

/**
 * The VAE: RGB = M z + bias per latent pixel, z in UNet latent space (so the decoder's weights
 * are M * VAE_SCALING_FACTOR). The 4th latent direction (M's null space) is invisible.
 */
export const VAE_MATRIX: readonly (readonly number[])[] = [
  [0.7, 0.15, 0.05, 0.3],
  [0.1, 0.75, 0.1, -0.25],
  [0.05, 0.15, 0.7, 0.3],
];
export const VAE_BIAS: readonly number[] = [0.05, 0.0, -0.05];

/** Moore-Penrose pseudo-inverse of the 3x4 VAE matrix (4x3): M^T (M M^T)^-1. */
export function vaePseudoInverse(): number[][] {
  const m = VAE_MATRIX;
  const mmt = [0, 1, 2].map((i) => [0, 1, 2].map((j) => m[i].reduce((s, v, k) => s + v * m[j][k], 0)));
  const inv = invert3(mmt);
  return [0, 1, 2, 3].map((k) => [0, 1, 2].map((j) => m[0][k] * inv[0][j] + m[1][k] * inv[1][j] + m[2][k] * inv[2][j]));
}

function invert3(a: number[][]): number[][] {
  const [[a0, a1, a2], [b0, b1, b2], [c0, c1, c2]] = a;
  const det = a0 * (b1 * c2 - b2 * c1) - a1 * (b0 * c2 - b2 * c0) + a2 * (b0 * c1 - b1 * c0);
  const cof = [
    [b1 * c2 - b2 * c1, a2 * c1 - a1 * c2, a1 * b2 - a2 * b1],
    [b2 * c0 - b0 * c2, a0 * c2 - a2 * c0, a2 * b0 - a0 * b2],
    [b0 * c1 - b1 * c0, a1 * c0 - a0 * c1, a0 * b1 - a1 * b0],
  ];
  return cof.map((row) => row.map((v) => v / det));
}

/** Latent code (UNet space) of each thing: the minimum-norm latent that decodes to its colour. */
export function thingLatents(): number[][] {
  const pinv = vaePseudoInverse();
  return THINGS.map((t) => pinv.map((row) => row.reduce((s, v, j) => s + v * (t.rgb[j] - VAE_BIAS[j]), 0)));
}

/** The denoiser's constants (see README.md, "The UNet"). */
export const DENOISER = {
  /** Std of the scene prior around its template (latent units): the detail the world leaves free. */
  tau: 0.12,
  /** Box edge sharpness (1 / latent pixels). */
  edgeSharpness: 1.5,
  /** Placement centres, relative to the window (both axes). */
  centres: Array.from({ length: 17 }, (_, i) => -0.1 + (1.2 * i) / 16),
  /**
   * Placement sizes (box half-size before the object's aspect), relative to min(h, w). The largest
   * exceed the window: in an upscaling phase a window may lie inside one big object.
   */
  sizes: [0.07, 0.1, 0.14, 0.19, 0.26, 0.36, 0.5, 0.75],
  /** Log-prior per size: medium things are most common. */
  sizeLogPrior: [-0.5, 0, 0, 0, -0.5, -1.5, -2.5, -3.5],
  /** Log-prior per unit of box sticking out of the window (relative units). */
  overflowLogPrior: -20,
  /** Prior probability that a pixel not showing object o shows a given other object (not the lawn). */
  otherObjectPixel: 0.05,
  /** Presence log-odds: base, + when named, - when the prompt names other things but not this one. */
  presenceBase: -3,
  presenceNamed: 15,
  presenceOmitted: -2,
  /** Log-prior penalty per overlapped (expected) pixel of earlier objects, in pixels of the box. */
  repulsion: 0.15,
  /** Log-prior bonus per unit of edge density on a placement's outline (ControlNet). */
  edgeBonus: 0.6,
  /** Half-width of the outline band, latent pixels. */
  edgeBand: 1.5,
} as const;

/** The attention model's constants (README.md, "attention_probs"). */
export const ATTENTION = {
  /** Inverse temperature of the colour similarity. */
  beta: 4,
  /** Logit of a thing's token when the pixel shows exactly its colour. */
  thingBias: 2,
  /** Logit of BOS (CLIP's attention sink), EOS and any other token. */
  bosBias: 3,
  eosBias: -1,
  otherBias: -2,
} as const;

/** mulberry32: a small seeded generator for the fixed pseudo-random parts of the build. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
