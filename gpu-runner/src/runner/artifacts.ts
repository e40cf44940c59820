/**
 * A completed pipeline phase -> the protocol's artifacts, one at a time (an async generator, so that at 4096 px only
 * one encoded image is held at once). The engine publishes each phase as soon as the pipeline finishes it
 * (RunOptions.onPhase), so a runner that dies or a job cancelled later keeps every finished phase in the cache:
 *
 *   phase 1 (when computed here): lowres_image, lowres_latents (.npy, not renormalised), attention_maps (.npy,
 *     [rows, cols, tokens]), tokens (.json), canny (.png)
 *   each upscaling phase k:       patch_prompts (.json {k: {views, prompts}}), phase_image, phase_latents (.npy,
 *     renormalised to phase 1's statistics), canny (.png)
 *   last:                          final_image
 *
 * Images come in the requested format, and also as PNG when that format is lossy: any phase image may seed a later
 * job (a re-dispatch of this one, or a larger render reusing the cached phase), whose next phase is conditioned on
 * the canny of exactly these pixels, and a resumed job must reproduce the uninterrupted one bit for bit.
 */
import type { ImageFormat, RunnerJob } from "@accdiff/shared";
import { CONTENT_TYPES, encodeGray, encodeImage } from "../images/encode";
import type { PhaseResult, PhaseState } from "../pipeline/index";
import { jitterRange } from "../pipeline/views";
import type { ArtifactOut } from "../server/engine";
import { encodeNpy, NPY_CONTENT_TYPE } from "./npy";

const EXTENSIONS: Record<ImageFormat, string> = { png: "png", webp: "webp", jpeg: "jpg" };

/**
 * Protocol phase of a pipeline phase: the base phase is 1 whether generated (id 1) or encoded from the user's image
 * (id 0); upscaling phases keep their id (the scale). From an image, the reference's extra scale-1 refinement phase
 * (id 1) is reported as phase 1 too: the protocol numbers phases by scale.
 */
export function protocolPhase(pipelineId: number): number {
  return Math.max(1, pipelineId);
}

/** The cache key the worker gave for a protocol phase (phase 1: the level-1 key). */
export function cacheKeyOf(job: RunnerJob, phase: number): string | undefined {
  return phase === 1 ? job.cacheKeys.phase1 : job.cacheKeys.phases[String(phase)];
}

function withKey(job: RunnerJob, phase: number, meta: Record<string, unknown>): Record<string, unknown> {
  const cacheKey = cacheKeyOf(job, phase);
  return cacheKey ? { ...meta, cacheKey } : meta;
}

const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

/** The formats a phase image is uploaded in: the requested one, plus lossless PNG when that one is lossy. */
function imageFormats(format: ImageFormat): ImageFormat[] {
  return format !== "png" ? [format, "png"] : [format];
}

async function* images(
  job: RunnerJob,
  kind: "lowres_image" | "phase_image",
  phase: number,
  ph: PhaseResult,
  keep: (format: ImageFormat, bytes: Uint8Array) => void,
): AsyncGenerator<ArtifactOut> {
  for (const format of imageFormats(job.params.format)) {
    const bytes = await encodeImage(ph.image, format);
    keep(format, bytes);
    yield {
      kind,
      phase,
      name: `phase-${phase}.${EXTENSIONS[format]}`,
      contentType: CONTENT_TYPES[format],
      bytes,
      width: ph.image.width,
      height: ph.image.height,
      meta: withKey(job, phase, { phase, format }),
    };
  }
}

function latentShape(ph: PhaseResult): number[] {
  const c = ph.latents.length / (ph.spec.latentHeight * ph.spec.latentWidth);
  return [1, c, ph.spec.latentHeight, ph.spec.latentWidth];
}

function latents(
  job: RunnerJob,
  kind: "lowres_latents" | "phase_latents",
  phase: number,
  state: PhaseState,
  ph: PhaseResult,
): ArtifactOut {
  const shape = latentShape(ph);
  return {
    kind,
    phase,
    name: `phase-${phase}.npy`,
    contentType: NPY_CONTENT_TYPE,
    bytes: encodeNpy(ph.latents, shape),
    meta: withKey(job, phase, {
      phase,
      shape,
      dtype: "float32",
      // Upscaling phases are renormalised to phase 1's mean and unbiased std; phase 1 is the anchor itself.
      renormalised: ph.kind === "upscale",
      anchor: state.anchor,
    }),
  };
}

async function canny(job: RunnerJob, phase: number, ph: PhaseResult): Promise<ArtifactOut | null> {
  if (!ph.canny) return null;
  const c = ph.canny;
  return {
    kind: "canny",
    phase,
    name: `phase-${phase}.png`,
    contentType: "image/png",
    bytes: await encodeGray(c.edges, c.width, c.height),
    width: c.width,
    height: c.height,
    meta: withKey(job, phase, { phase, median: c.median, lower: c.lower, upper: c.upper }),
  };
}

function patchPrompts(job: RunnerJob, phase: number, state: PhaseState, ph: PhaseResult): ArtifactOut | null {
  if (!ph.patchViews || !ph.patchPrompts) return null;
  const scale = ph.spec.scale;
  return {
    kind: "patch_prompts",
    phase,
    name: `phase-${phase}.json`,
    contentType: "application/json",
    bytes: json({ [scale]: { views: ph.patchViews, prompts: ph.patchPrompts } }),
    meta: withKey(job, phase, {
      phase,
      scale,
      c: job.params.c,
      // Views are [h0, h1, w0, w1] in latent pixels of the phase's latent frame padded by this many on every side.
      jitterPad: jitterRange(state.params.window, state.params.stride),
      count: ph.patchPrompts.length,
    }),
  };
}

/** The artifacts of one completed phase, in the order the worker can use them; the last phase adds the final image. */
export async function* phaseArtifacts(job: RunnerJob, state: PhaseState, ph: PhaseResult): AsyncGenerator<ArtifactOut> {
  const phase = protocolPhase(ph.id);
  let finalBytes: Uint8Array | undefined;
  const keepFinal = (format: ImageFormat, bytes: Uint8Array) => {
    if (state.last && format === job.params.format) finalBytes = bytes;
  };
  if (ph.spec === state.plan.base) {
    yield* images(job, "lowres_image", phase, ph, keepFinal);
    yield latents(job, "lowres_latents", phase, state, ph);
    if (state.attention) {
      const a = state.attention;
      yield {
        kind: "attention_maps",
        name: "phase-1.npy",
        contentType: NPY_CONTENT_TYPE,
        bytes: encodeNpy(a.data, [a.rows, a.cols, a.tokens]),
        meta: withKey(job, 1, {
          shape: [a.rows, a.cols, a.tokens],
          dtype: "float32",
          source: ph.kind === "encode" ? "probed from the input image" : "averaged over phase 1's steps",
        }),
      };
    }
    yield {
      kind: "tokens",
      name: "tokens.json",
      contentType: "application/json",
      bytes: json(state.tokens),
      meta: withKey(job, 1, { count: state.tokens.length }),
    };
  } else {
    const pp = patchPrompts(job, phase, state, ph);
    if (pp) yield pp;
    yield* images(job, "phase_image", phase, ph, keepFinal);
    yield latents(job, "phase_latents", phase, state, ph);
  }
  // From an image, the encoded base (id 0) and the scale-1 refinement (id 1) are both protocol phase 1: the canny
  // that conditions phase 2 is the refinement's, so the base's is not uploaded when a refinement follows.
  const superseded = ph.spec === state.plan.base && state.plan.upscales.some((u) => protocolPhase(u.id) === phase);
  const edges = superseded ? null : await canny(job, phase, ph);
  if (edges) yield edges;
  if (finalBytes) {
    const format = job.params.format;
    yield {
      kind: "final_image",
      name: `final.${EXTENSIONS[format]}`,
      contentType: CONTENT_TYPES[format],
      bytes: finalBytes,
      width: ph.image.width,
      height: ph.image.height,
      meta: withKey(job, phase, { phase, format }),
    };
  }
}
