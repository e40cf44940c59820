/**
 * Writes the demo's output folder:
 *
 *   <label>/<download name>     every downloaded file under the name the API gave it (e.g. 4x/image.png,
 *                               4x/phase-3.png, 4x/canny-2.png, 4x/attention_maps.npy, 4x/patch_prompts-4.json)
 *   <label>/attention/NN-word.png   each word's attention mask over the preview
 *   <label>/patches/phase-K.png     each upscaling phase's windows labelled with their prompts
 *   index.html, summary.json
 */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { attentionMaskFile } from "../../gpu-runner/src/cli/outputs";
import { attentionPictures, patchGrids } from "./explain";
import type { DemoRun, RenderRecord } from "./flow";
import { type PhasePicture, type ReportPictures, renderHtml } from "./html";
import { buildSummary, type DemoSummary, type SummaryContext } from "./summary";

export const fileOf = (r: Pick<RenderRecord, "label">, name: string) => `${r.label}/${name}`;

async function put(dir: string, rel: string, bytes: Uint8Array | string): Promise<void> {
  const path = join(dir, rel);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, bytes);
}

/** The first render's phases in order: the preview as phase 1, then each phase image, with its canny map. */
function phasePictures(r: RenderRecord): PhasePicture[] {
  const canny = (phase: number) => r.files.find((f) => f.kind === "canny" && f.phase === phase);
  const images = r.files
    .filter((f) => (f.kind === "lowres_image" || f.kind === "phase_image") && f.contentType === "image/png")
    .sort((a, b) => (a.phase ?? 1) - (b.phase ?? 1));
  return images.map((f) => {
    const phase = f.phase ?? 1;
    const c = canny(phase);
    return {
      phase,
      image: fileOf(r, f.name),
      canny: c ? fileOf(r, c.name) : null,
      width: f.width ?? 0,
      height: f.height ?? 0,
      source: f.source,
    };
  });
}

export interface ReportContext extends Omit<SummaryContext, "fileOf"> {
  vaeScaleFactor: number;
}

/** Writes everything; returns the summary (also written as summary.json). */
export async function writeReport(dir: string, run: DemoRun, ctx: ReportContext): Promise<DemoSummary> {
  await mkdir(dir, { recursive: true });
  for (const r of run.renders) for (const f of r.files) await put(dir, fileOf(r, f.name), f.bytes);

  const first = run.renders[0];
  const pictures: ReportPictures = { phases: [], final: null, attention: [], patches: [] };
  if (first) {
    pictures.phases = phasePictures(first);
    const final = first.files.find((f) => f.kind === "final_image");
    pictures.final = final ? fileOf(first, final.name) : null;
    for (const a of await attentionPictures(first.files)) {
      const rel = fileOf(first, attentionMaskFile(a.token, a.word));
      await put(dir, rel, a.png);
      pictures.attention.push({ token: a.token, word: a.word, file: rel });
    }
    for (const g of await patchGrids(first.files, ctx.vaeScaleFactor)) {
      const rel = fileOf(first, `patches/phase-${g.phase}.png`);
      await put(dir, rel, g.png);
      pictures.patches.push({ phase: g.phase, file: rel, boxes: g.boxes });
    }
  }
  const summary = buildSummary(run, { ...ctx, fileOf });
  await put(dir, "summary.json", `${JSON.stringify(summary, null, 2)}\n`);
  await put(dir, "index.html", renderHtml(summary, pictures));
  return summary;
}
