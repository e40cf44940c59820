/**
 * text_encoder and text_encoder_2: CLIP-shaped ONNX models whose hidden states encode which of
 * the world's things a prompt names. Each "layer" is a fixed rotation except text_encoder_2's
 * penultimate one, which (like CLIP's causal attention) lets each position see a running count
 * of the things named before it; the EOS position therefore carries the prompt's bag of things.
 */

import { KIND_BOS, KIND_EOS, KIND_OTHER, POOLED_BAG, POOLED_NAMES_ANY, POSITION, TE1_THING, TE2_BAG } from "./features";
import { Graph } from "./onnx/graph";
import type { TokenMeaning } from "./tokenizer";
import { D1, D2, MAX_TOKENS, NUM_THINGS, POOLED_DIM, seededRandom, TEXT_LAYERS } from "./world";

type Mat = Float64Array; // row-major n x n

function matmul(a: Mat, b: Mat, n: number): Mat {
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k];
      for (let j = 0; j < n; j++) c[i * n + j] += aik * b[k * n + j];
    }
  return c;
}

function transposed(a: Mat, n: number): Mat {
  const t = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) t[j * n + i] = a[i * n + j];
  return t;
}

/** A fixed pseudo-random rotation (Gram-Schmidt on seeded uniform rows). */
export function randomOrthogonal(n: number, seed: number): Mat {
  const rand = seededRandom(seed);
  const q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) q[i * n + j] = rand() * 2 - 1;
    for (let k = 0; k < i; k++) {
      let dot = 0;
      for (let j = 0; j < n; j++) dot += q[i * n + j] * q[k * n + j];
      for (let j = 0; j < n; j++) q[i * n + j] -= dot * q[k * n + j];
    }
    let norm = 0;
    for (let j = 0; j < n; j++) norm += q[i * n + j] ** 2;
    norm = Math.sqrt(norm);
    for (let j = 0; j < n; j++) q[i * n + j] /= norm;
  }
  return q;
}

/** Clean per-token features (before position): thing one-hot or bag seed, and kind flags. */
function tokenTable(meaning: TokenMeaning, dim: number, thingOffset: number): Float64Array {
  const vocabSize = meaning.thing.length;
  const t = new Float64Array(vocabSize * dim);
  for (let id = 0; id < vocabSize; id++) {
    const k = meaning.thing[id];
    if (k >= 0) t[id * dim + thingOffset + k] = 1;
    else if (id === meaning.bosId) t[id * dim + KIND_BOS] = 1;
    else if (id === meaning.eosId) t[id * dim + KIND_EOS] = 1;
    else t[id * dim + KIND_OTHER] = 1;
  }
  return t;
}

/** Sinusoidal position features in dims POSITION.. (amplitude 0.5). */
function positionTable(dim: number): Float64Array {
  const p = new Float64Array(MAX_TOKENS * dim);
  const pairs = (dim - POSITION) >> 1;
  for (let i = 0; i < MAX_TOKENS; i++)
    for (let f = 0; f < pairs; f++) {
      const angle = i / 10 ** ((2 * f) / pairs);
      p[i * dim + POSITION + 2 * f] = 0.5 * Math.sin(angle);
      p[i * dim + POSITION + 2 * f + 1] = 0.5 * Math.cos(angle);
    }
  return p;
}

/** rows x n times n x n. */
function rowsTimes(a: Float64Array, rows: number, b: Mat, n: number): Float64Array {
  const c = new Float64Array(rows * n);
  for (let i = 0; i < rows; i++)
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k];
      if (aik !== 0) for (let j = 0; j < n; j++) c[i * n + j] += aik * b[k * n + j];
    }
  return c;
}

/** The embedding stage: (clean token features + positions) in the rotated basis `q0`. */
function embed(g: Graph, ids: string, meaning: TokenMeaning, dim: number, thingOffset: number, q0: Mat): string {
  const vocabSize = meaning.thing.length;
  const table = g.f32(
    rowsTimes(tokenTable(meaning, dim, thingOffset), vocabSize, q0, dim),
    [vocabSize, dim],
    "tok_emb",
  );
  const pos = g.f32(rowsTimes(positionTable(dim), MAX_TOKENS, q0, dim), [MAX_TOKENS, dim], "pos_emb");
  return g.add(g.gather(table, ids, 0), pos);
}

/** One-hot [b, 1, T] of each row's first EOS (the highest id, as CLIP's pooler finds it). */
function eosSelector(g: Graph, ids: string): string {
  const eosAt = g.op("ArgMax", [ids], { axis: { kind: "int", value: 1 }, keepdims: { kind: "int", value: 1 } });
  const positions = g.i64(
    Array.from({ length: MAX_TOKENS }, (_, i) => i),
    [1, MAX_TOKENS],
    "positions",
  );
  return g.unsqueeze(g.cast(g.op("Equal", [positions, eosAt]), "float"), [1]);
}

const layerNorm = (g: Graph, x: string, dim: number) =>
  g.op(
    "LayerNormalization",
    [x, g.f32(new Float32Array(dim).fill(1), [dim], "ln_g"), g.f32(new Float32Array(dim), [dim], "ln_b")],
    {
      axis: { kind: "int", value: -1 },
      epsilon: { kind: "float", value: 1e-5 },
    },
  );

const f32 = (m: Float64Array) => Float32Array.from(m);

/**
 * text_encoder: hidden_states.{L-1} (penultimate) = one-hot thing, kind flags, positions.
 * Layers: h0 = emb Q0, h1 = h0 Q1, h2 = h1 (Q0 Q1)^T (clean), h3 = h2 Q3.
 */
export function buildTextEncoder(meaning: TokenMeaning): Uint8Array {
  const g = new Graph("toyworld_text_encoder");
  const ids = g.input("input_ids", "int32", ["batch", MAX_TOKENS]);
  const n = D1;
  const q0 = randomOrthogonal(n, 101);
  const q1 = randomOrthogonal(n, 102);
  const q3 = randomOrthogonal(n, 103);
  const undo = transposed(matmul(q0, q1, n), n);
  const hidden = [embed(g, ids, meaning, n, TE1_THING, q0)];
  hidden.push(g.matmul(hidden[0], g.f32(f32(q1), [n, n], "layer1")));
  hidden.push(g.matmul(hidden[1], g.f32(f32(undo), [n, n], "layer2")));
  hidden.push(g.matmul(hidden[2], g.f32(f32(q3), [n, n], "layer3")));
  const dims = ["batch", MAX_TOKENS, n];
  hidden.forEach((h, i) => {
    g.output(`hidden_states.${i}`, h, "float", dims);
  });
  const last = layerNorm(g, hidden[TEXT_LAYERS], n);
  g.output("last_hidden_state", last, "float", dims);
  const pooled = g.squeeze(g.matmul(eosSelector(g, ids), last), [1]);
  g.output("pooler_output", pooled, "float", ["batch", n]);
  return g.encode("Toy world text_encoder: penultimate hidden state = one-hot of the thing each token names.");
}

/**
 * text_encoder_2: penultimate = running (causal) count of each thing named up to this position,
 * kind flags, positions. text_embeds (pooled at EOS) = which things are named, and whether any is.
 */
export function buildTextEncoder2(meaning: TokenMeaning): Uint8Array {
  const g = new Graph("toyworld_text_encoder_2");
  const ids = g.input("input_ids", "int32", ["batch", MAX_TOKENS]);
  const n = D2;
  const r0 = randomOrthogonal(n, 201);
  const r1 = randomOrthogonal(n, 202);
  const r3 = randomOrthogonal(n, 203);
  const undo = transposed(matmul(r0, r1, n), n);
  // Split the un-rotation into the columns that get summed causally (the bag) and the rest.
  const undoBag = new Float64Array(n * n);
  const undoRest = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      const inBag = j >= TE2_BAG && j < TE2_BAG + NUM_THINGS;
      (inBag ? undoBag : undoRest)[i * n + j] = undo[i * n + j];
    }
  const causal = new Float32Array(MAX_TOKENS * MAX_TOKENS);
  for (let i = 0; i < MAX_TOKENS; i++) for (let j = 0; j <= i; j++) causal[i * MAX_TOKENS + j] = 1;

  const hidden = [embed(g, ids, meaning, n, TE2_BAG, r0)];
  hidden.push(g.matmul(hidden[0], g.f32(f32(r1), [n, n], "layer1")));
  const bag = g.matmul(
    g.f32(causal, [MAX_TOKENS, MAX_TOKENS], "causal"),
    g.matmul(hidden[1], g.f32(f32(undoBag), [n, n], "layer2_bag")),
  );
  hidden.push(g.add(bag, g.matmul(hidden[1], g.f32(f32(undoRest), [n, n], "layer2_rest"))));
  hidden.push(g.matmul(hidden[2], g.f32(f32(r3), [n, n], "layer3")));
  const dims = ["batch", MAX_TOKENS, n];
  hidden.forEach((h, i) => {
    g.output(`hidden_states.${i}`, h, "float", dims);
  });
  g.output("last_hidden_state", layerNorm(g, hidden[TEXT_LAYERS], n), "float", dims);

  // Pool the final layer at EOS and rotate back: the bag of things named in the whole prompt.
  const atEos = g.squeeze(g.matmul(eosSelector(g, ids), hidden[TEXT_LAYERS]), [1]);
  const clean = g.matmul(atEos, g.f32(f32(transposed(r3, n)), [n, n], "unrotate"));
  // Counts are integers; rounding removes the rotations' float32 dust, so presence is exactly 0 or 1.
  const named = g.clip(g.op("Round", [g.slice(clean, [TE2_BAG], [TE2_BAG + NUM_THINGS], [1])]), 0, 1);
  const any = g.clip(g.reduceSum(named, [1]), 0, 1);
  const project = new Float32Array((NUM_THINGS + 1) * POOLED_DIM);
  for (let i = 0; i < NUM_THINGS; i++) project[i * POOLED_DIM + POOLED_BAG + i] = 1;
  project[NUM_THINGS * POOLED_DIM + POOLED_NAMES_ANY] = 1;
  const textEmbeds = g.matmul(
    g.concat([named, any], 1),
    g.f32(project, [NUM_THINGS + 1, POOLED_DIM], "text_projection"),
  );
  g.output("text_embeds", textEmbeds, "float", ["batch", POOLED_DIM]);
  return g.encode("Toy world text_encoder_2: penultimate = causal count of named things; text_embeds = things named.");
}
