/**
 * What `accdiff generate` leaves in its output folder, so a run can be understood without reading code:
 *
 *   image.<ext>                      the result (the API serves it under the same name)
 *   phase-<id>.<ext>                 every phase's image (1 = low-res; 0 = the encoded input image when upscaling)
 *   canny/phase-<id>.png             the canny edges each next phase's ControlNet is conditioned on
 *   attention/<nn>-<word>.png        each word's attention mask over the low-res image (what patch prompts use)
 *   patches/phase-<id>.png           each upscaling phase's MultiDiffusion windows, labelled with their prompts
 *   report.json                      parameters, phase plan, timings, model evaluations, warnings, files
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ImageFormat, ResolvedRequest } from "@accdiff/shared";
import { encodeGray, encodeImage } from "../images/encode";
import { maskOverlay, type PatchBox, patchGridPicture } from "../images/pictures";
import type { BundleInfo } from "../models/types";
import { tokenMasks } from "../pipeline/attention";
import type { PhaseResult, PipelineResult } from "../pipeline/index";
import { jitterRange } from "../pipeline/views";
import { modelEvaluations } from "../runner/outcome";

const EXT: Record<ImageFormat, string> = { png: "png", webp: "webp", jpeg: "jpg" };

export interface RunInfo {
  request: ResolvedRequest;
  bundle: { dir: string; info: BundleInfo };
  provider: string;
  inputImage?: string;
  wallMs: number;
}

/** A word as a file-name part: letters, digits, dashes. */
function slug(word: string): string {
  const s = word
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
  return s.slice(0, 32) || "token";
}

/** Where a token's attention mask picture goes, relative to the output folder (the CLI's and the demo's layout). */
export function attentionMaskFile(token: number, word: string): string {
  return `attention/${String(token).padStart(2, "0")}-${slug(word)}.png`;
}

/** Pixel boxes of a phase's windows (views are latent pixels in the frame padded by the jitter range). */
export function patchBoxes(result: PipelineResult, ph: PhaseResult): PatchBox[] {
  const views = ph.patchViews ?? [];
  const prompts = ph.patchPrompts ?? [];
  const pad = jitterRange(result.params.window, result.params.stride);
  const sy = ph.image.height / ph.spec.latentHeight;
  const sx = ph.image.width / ph.spec.latentWidth;
  const clamp = (v: number, hi: number) => Math.min(hi, Math.max(0, Math.round(v)));
  return views.map(([h0, h1, w0, w1], i) => ({
    top: clamp((h0 - pad) * sy, ph.image.height),
    bottom: clamp((h1 - pad) * sy, ph.image.height),
    left: clamp((w0 - pad) * sx, ph.image.width),
    right: clamp((w1 - pad) * sx, ph.image.width),
    prompt: prompts[i] ?? "",
  }));
}

/** Writes every output; returns the files written (relative to `dir`), report.json last. */
export async function writeOutputs(dir: string, result: PipelineResult, run: RunInfo): Promise<string[]> {
  const files: string[] = [];
  const put = async (rel: string, bytes: Uint8Array | string) => {
    const path = join(dir, rel);
    await mkdir(join(path, ".."), { recursive: true });
    await writeFile(path, bytes);
    files.push(rel);
  };
  const format = run.request.format;
  const last = result.phases[result.phases.length - 1];
  let finalBytes: Uint8Array | null = null;
  for (const ph of result.phases) {
    const bytes = await encodeImage(ph.image, format);
    if (ph === last) finalBytes = bytes;
    await put(`phase-${ph.id}.${EXT[format]}`, bytes);
    if (ph.canny)
      await put(`canny/phase-${ph.id}.png`, await encodeGray(ph.canny.edges, ph.canny.width, ph.canny.height));
  }
  await put(`image.${EXT[format]}`, finalBytes ?? (await encodeImage(result.image, format)));

  const base = result.phases.find((p) => p.id === result.plan.base.id);
  const masks: { token: number; word: string; file: string }[] = [];
  if (result.attention && base) {
    const a = result.attention;
    const count = Math.min(result.tokens.length, a.tokens);
    const all = tokenMasks(a.data, a.rows, a.cols, a.tokens, count);
    // Words only: BOS and EOS have masks too, but nothing in the image to point at.
    for (let t = 1; t < count - 1; t++) {
      const file = attentionMaskFile(t, result.tokens[t]);
      await put(file, await maskOverlay(base.image, all[t], a.rows, a.cols));
      masks.push({ token: t, word: result.tokens[t], file });
    }
  }
  for (const ph of result.phases) {
    if (!ph.patchViews?.length) continue;
    await put(`patches/phase-${ph.id}.png`, await patchGridPicture(ph.image, patchBoxes(result, ph)));
  }

  const report = {
    tool: "accdiff generate",
    createdAt: new Date().toISOString(),
    request: run.request,
    ...(run.inputImage ? { inputImage: run.inputImage } : {}),
    bundle: {
      dir: run.bundle.dir,
      name: run.bundle.info.name,
      version: run.bundle.info.version,
      hash: run.bundle.info.hash,
    },
    provider: run.provider,
    // The pipeline's resolved parameters (bundle-scaled window and stride included), without the input pixels.
    parameters: { ...result.params, initImage: undefined },
    output: { width: result.image.width, height: result.image.height },
    phases: result.phases.map((p) => ({
      id: p.id,
      kind: p.kind,
      scale: p.spec.scale,
      width: p.image.width,
      height: p.image.height,
      latent: [p.spec.latentHeight, p.spec.latentWidth],
      timingsMs: p.timings,
      ...(p.canny ? { canny: { median: p.canny.median, lower: p.canny.lower, upper: p.canny.upper } } : {}),
      ...(p.patchPrompts ? { patchPrompts: p.patchPrompts } : {}),
    })),
    tokens: result.tokens,
    attentionMasks: masks,
    anchor: result.anchor,
    timingsMs: { ...result.timings, wall: run.wallMs },
    modelEvaluations: modelEvaluations(result.modelCalls.byPhase),
    modelCallTotals: result.modelCalls.total,
    warnings: result.warnings,
    files: [...files, "report.json"],
  };
  await put("report.json", `${JSON.stringify(report, null, 2)}\n`);
  return files;
}
