/**
 * A finished pipeline result -> the protocol's artifacts, one at a time (an async generator, so that at 4096 px only
 * one encoded image is held at once):
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
import type { PhaseResult, PipelineResult } from "../pipeline/index";
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
  result: PipelineResult,
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
      anchor: result.anchor,
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

function patchPrompts(job: RunnerJob, phase: number, result: PipelineResult, ph: PhaseResult): ArtifactOut | null {
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
      jitterPad: jitterRange(result.params.window, result.params.stride),
      count: ph.patchPrompts.length,
    }),
  };
}

/** Every artifact of a result, in the order the worker can use them (phase by phase, the final image last). */
export async function* resultArtifacts(job: RunnerJob, result: PipelineResult): AsyncGenerator<ArtifactOut> {
  const last = result.phases[result.phases.length - 1];
  // The last phase's image in the requested format is also the final image: encoded once.
  const final: { bytes?: Uint8Array } = {};
  const keepFinal = (ph: PhaseResult) => (format: ImageFormat, bytes: Uint8Array) => {
    if (ph === last && format === job.params.format) final.bytes = bytes;
  };
  for (const ph of result.phases) {
    const phase = protocolPhase(ph.id);
    const isBase = ph.id === result.plan.base.id;
    if (isBase) {
      yield* images(job, "lowres_image", phase, ph, keepFinal(ph));
      yield latents(job, "lowres_latents", phase, result, ph);
      if (result.attention) {
        const a = result.attention;
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
        bytes: json(result.tokens),
        meta: withKey(job, 1, { count: result.tokens.length }),
      };
    } else {
      const pp = patchPrompts(job, phase, result, ph);
      if (pp) yield pp;
      yield* images(job, "phase_image", phase, ph, keepFinal(ph));
      yield latents(job, "phase_latents", phase, result, ph);
    }
    // From an image, the encoded base (id 0) and the scale-1 refinement (id 1) are both protocol phase 1: the
    // canny that conditions phase 2 is the refinement's, so only the later one is uploaded.
    const supersededCanny = result.phases.some((p) => p.id > ph.id && protocolPhase(p.id) === phase);
    const edges = supersededCanny ? null : await canny(job, phase, ph);
    if (edges) yield edges;
  }
  if (last && final.bytes) {
    const format = job.params.format;
    const p = protocolPhase(last.id);
    yield {
      kind: "final_image",
      name: `final.${EXTENSIONS[format]}`,
      contentType: CONTENT_TYPES[format],
      bytes: final.bytes,
      width: result.image.width,
      height: result.image.height,
      meta: withKey(job, p, { phase: p, format }),
    };
  }
}
