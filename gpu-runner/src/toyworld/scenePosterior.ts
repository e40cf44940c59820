/**
 * Where the objects are, given a noisy latent: per object, a posterior over placements and a
 * presence probability, painted back as an expected mask [B, h, w] (README.md, "The UNet").
 *
 * Evidence for "object o at placement j" is the sum over the box of the per-pixel log-likelihood
 * ratio "o's colour here" vs "whatever else is here". Two passes: the first takes "whatever else"
 * to be the lawn (or, rarely, another object); the second takes it from the first pass's masks,
 * so an object never claims pixels another object explains (no two things on one spot).
 */
import type { Graph } from "./onnx/graph";
import {
  type BoxTables,
  boxTables,
  NUM_CENTRES,
  NUM_SIZES,
  paintBoxes,
  placementLogPrior,
  sumOverBoxes,
  type Window,
} from "./placements";
import { DENOISER, NUM_OBJECTS, NUM_THINGS, OBJECTS } from "./world";

export interface SceneEvidence {
  /** [B, NUM_THINGS, h, w] per-pixel colour log-likelihoods (up to a per-pixel constant). */
  logLik: string;
  win: Window;
  /** [B, h, w] ControlNet edge density. */
  edges: string;
  /** [B, NUM_OBJECTS] presence log-odds from the prompt. */
  presence: string;
}

/**
 * Per-pixel colour likelihoods relative to the best one: exp(logLik - max) [B, NUM_THINGS, h, w]
 * and the max [B, 1, h, w]. Likelihood ratios are then ratios of these, without a per-object
 * log-sum-exp (slow in onnxruntime).
 */
const LAWN = NUM_THINGS - 1;

interface Likelihoods {
  relative: string;
  max: string;
  /** [B, NUM_OBJECTS, h, w] log of each object's relative likelihood. */
  objectLog: string;
}

function likelihoods(g: Graph, logLik: string): Likelihoods {
  const max = g.reduceMax(logLik, [1]);
  const shifted = g.sub(logLik, max);
  return { relative: g.exp(shifted), max, objectLog: g.slice(shifted, [0], [NUM_OBJECTS], [1]) };
}

/**
 * log p(x | o) - log sum_k w_k p(x | k), from the alternative's mixture value sum_k w_k exp(ll_k -
 * max). Where o's colour beats every alternative by more than float32 can hold (~69 nats), the
 * pixel's evidence is capped there: still decisive, and a misplaced box's lawn pixels count in full.
 */
function evidenceFrom(g: Graph, lk: Likelihoods, alternative: string, o: number): string {
  const own = g.squeeze(g.slice(lk.objectLog, [o], [o + 1], [1]), [1]);
  return g.sub(own, g.log(g.max(alternative, g.scalar(1e-30))));
}

/** Pass-1 alternatives [B, NUM_OBJECTS, h, w]: the lawn, or another object with a small fixed probability. */
function flatAlternatives(g: Graph, lk: Likelihoods): string {
  const p = DENOISER.otherObjectPixel;
  const w = new Float32Array(NUM_OBJECTS * NUM_THINGS);
  for (let o = 0; o < NUM_OBJECTS; o++)
    for (let k = 0; k < NUM_THINGS; k++)
      w[o * NUM_THINGS + k] = k === o ? 0 : k === LAWN ? 1 - (NUM_OBJECTS - 1) * p : p;
  return g.op("Conv", [lk.relative, g.f32(w, [NUM_OBJECTS, NUM_THINGS, 1, 1], "alt_flat")]);
}

/**
 * Pass-2 alternative of object o [B, h, w]: other objects where pass 1 expects them, the lawn
 * elsewhere; each weight at least the pass-1 floor, normalised to sum to 1 (an unnormalised
 * alternative would bias every pixel's evidence, and so the presence of big objects).
 */
function maskAlternative(g: Graph, lk: Likelihoods, masks: readonly string[], o: number): string {
  const others = masks.filter((_, k) => k !== o);
  let occupied = others[0];
  for (const m of others.slice(1)) occupied = g.add(occupied, m);
  const stacked = g.concat(
    [...masks, g.sub(g.scalar(1), occupied)].map((m) => g.unsqueeze(m, [1])),
    1,
  );
  const keep = Array.from({ length: NUM_THINGS }, (_, k) => (k === o ? 0 : 1));
  const weights = g.mul(g.clip(stacked, DENOISER.otherObjectPixel, 1), g.f32(keep, [1, NUM_THINGS, 1, 1], "alt_keep"));
  return g.div(g.reduceSum(g.mul(weights, lk.relative), [1], false), g.reduceSum(weights, [1], false));
}

interface ObjectTables {
  box: BoxTables;
  /** [B, S, J, J] placement log-prior before repulsion: size/overflow prior + edge bonus. */
  prior: string;
}

function objectTables(g: Graph, ev: SceneEvidence): ObjectTables[] {
  // The outline bonus counts edge density above the window's mean: a canny map of a grainy image (edges everywhere)
  // is texture, not an outline, and must not favour big boxes (their bands hold more of it) nor, through the
  // normalised prior, take mass from the placement the image shows. A drawn outline on a blank map is almost unchanged.
  const contrast = g.sub(ev.edges, g.reduceMean(ev.edges, [1, 2]));
  return OBJECTS.map((thing) => {
    const box = boxTables(g, ev.win, thing);
    const outline = g.sub(
      sumOverBoxes(g, contrast, boxTables(g, ev.win, thing, DENOISER.edgeBand)),
      sumOverBoxes(g, contrast, boxTables(g, ev.win, thing, -DENOISER.edgeBand)),
    );
    const base = g.f32(placementLogPrior(thing), [NUM_SIZES, NUM_CENTRES, NUM_CENTRES], `prior_${thing.name}`);
    return { box, prior: g.add(base, g.scale(outline, DENOISER.edgeBonus)) };
  });
}

/** One pass over the objects in order; later objects avoid where earlier ones are expected. */
function placeObjects(g: Graph, ev: SceneEvidence, tables: ObjectTables[], evidence: (o: number) => string): string[] {
  const masks: string[] = [];
  let expected = "";
  tables.forEach(({ box, prior }, o) => {
    let logPrior = prior;
    if (expected !== "") logPrior = g.sub(logPrior, g.scale(sumOverBoxes(g, expected, box), DENOISER.repulsion));
    const normalised = g.op("LogSoftmax", [g.reshape(logPrior, [0, -1])], { axis: { kind: "int", value: 1 } });
    const boxEvidence = sumOverBoxes(g, evidence(o), box);
    const posterior = g.add(normalised, g.reshape(boxEvidence, [0, -1]));
    // Presence: prompt log-odds + log p(x | present) / p(x | absent).
    const present = g.sigmoid(g.add(g.slice(ev.presence, [o], [o + 1], [1]), g.reduceLogSumExp(posterior, [1])));
    const weights = g.reshape(g.mul(g.softmax(posterior, 1), present), [-1, NUM_SIZES, NUM_CENTRES, NUM_CENTRES]);
    const mask = paintBoxes(g, weights, box);
    masks.push(mask);
    expected = expected === "" ? mask : g.add(expected, mask);
  });
  return masks;
}

/** Expected masks [B, h, w] of each object (OBJECTS order). */
export function objectMasks(g: Graph, ev: SceneEvidence): string[] {
  const tables = objectTables(g, ev);
  const lk = likelihoods(g, ev.logLik);
  const flat = flatAlternatives(g, lk);
  const first = placeObjects(g, ev, tables, (o) =>
    evidenceFrom(g, lk, g.squeeze(g.slice(flat, [o], [o + 1], [1]), [1]), o),
  );
  return placeObjects(g, ev, tables, (o) => evidenceFrom(g, lk, maskAlternative(g, lk, first, o), o));
}
