/**
 * The explanatory pictures of the report, made from the artifacts a client downloads (not from runner internals):
 *
 *   attention masks   attention_maps.npy [rows, cols, tokens] + tokens.json -> each word's mask over the preview,
 *                     thresholded exactly as the pipeline derives patch prompts (tokenMasks)
 *   patch grids       patch_prompts-<k>.json {k: {views, prompts}} -> phase k's MultiDiffusion windows, labelled
 *                     with the prompt each window was denoised with
 */
import { decodeImage } from "../../gpu-runner/src/images/encode";
import { maskOverlay, type PatchBox, patchGridPicture } from "../../gpu-runner/src/images/pictures";
import { tokenMasks } from "../../gpu-runner/src/pipeline/attention";
import { decodeNpy } from "../../gpu-runner/src/runner/npy";
import type { Downloaded } from "./flow";

export interface AttentionPicture {
  token: number;
  word: string;
  png: Uint8Array;
}

export interface PatchGrid {
  phase: number;
  png: Uint8Array;
  boxes: PatchBox[];
}

const text = (f: Downloaded) => new TextDecoder().decode(f.bytes);

/** Each word's attention mask over the low-res image (BOS and EOS have masks too, but nothing to point at). */
export async function attentionPictures(files: readonly Downloaded[]): Promise<AttentionPicture[]> {
  const preview = files.find((f) => f.kind === "lowres_image" && f.contentType === "image/png");
  const maps = files.find((f) => f.kind === "attention_maps");
  const tokensFile = files.find((f) => f.kind === "tokens");
  if (!preview || !maps || !tokensFile) return [];
  const { data, shape } = decodeNpy(maps.bytes);
  if (shape.length !== 3) throw new Error(`attention maps: expected [rows, cols, tokens], got [${shape.join(", ")}]`);
  const [rows, cols, tokens] = shape;
  const words = JSON.parse(text(tokensFile)) as string[];
  const count = Math.min(words.length, tokens);
  const masks = tokenMasks(data, rows, cols, tokens, count);
  const image = await decodeImage(preview.bytes);
  const out: AttentionPicture[] = [];
  for (let t = 1; t < count - 1; t++) {
    out.push({ token: t, word: words[t], png: await maskOverlay(image, masks[t], rows, cols) });
  }
  return out;
}

/**
 * Pixel boxes of a phase's windows. Views are [h0, h1, w0, w1] in latent pixels of the phase's latent frame padded
 * by `jitterPad` on every side (the artifact's meta says how much); the image is `vaeScale` pixels per latent pixel.
 */
export function windowBoxes(
  views: readonly (readonly number[])[],
  prompts: readonly string[],
  jitterPad: number,
  vaeScale: number,
  width: number,
  height: number,
): PatchBox[] {
  const clamp = (v: number, hi: number) => Math.min(hi, Math.max(0, Math.round(v)));
  return views.map(([h0, h1, w0, w1], i) => ({
    top: clamp((h0 - jitterPad) * vaeScale, height),
    bottom: clamp((h1 - jitterPad) * vaeScale, height),
    left: clamp((w0 - jitterPad) * vaeScale, width),
    right: clamp((w1 - jitterPad) * vaeScale, width),
    prompt: prompts[i] ?? "",
  }));
}

/** The patch grid of every upscaling phase whose patch prompts were downloaded. */
export async function patchGrids(files: readonly Downloaded[], vaeScale: number): Promise<PatchGrid[]> {
  const out: PatchGrid[] = [];
  for (const pp of files.filter((f) => f.kind === "patch_prompts" && f.phase !== null)) {
    const phase = pp.phase!;
    const image = files.find((f) => f.kind === "phase_image" && f.phase === phase && f.contentType === "image/png");
    if (!image) continue;
    const record = JSON.parse(text(pp)) as Record<string, { views: number[][]; prompts: string[] }>;
    const entry = record[String(phase)] ?? Object.values(record)[0];
    if (!entry) continue;
    const pad = Number(pp.meta?.jitterPad ?? 0);
    const rgb = await decodeImage(image.bytes);
    const boxes = windowBoxes(entry.views, entry.prompts, pad, vaeScale, rgb.width, rgb.height);
    out.push({ phase, boxes, png: await patchGridPicture(rgb, boxes) });
  }
  return out.sort((a, b) => a.phase - b.phase);
}
