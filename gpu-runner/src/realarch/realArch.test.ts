/**
 * The real SDXL architecture at a tiny size (../shared/real-arch), exported by our own tool (fp32, CPU, offline) and
 * held to the reference: `accdiff bundle check --smoke` on the export, per-component parity with PyTorch, the
 * reference `__call__`'s recorded run replayed in referenceCompat, and a default-mode job.
 *
 * Skipped only where ../shared/real-arch is absent (CI always has it; a missing Python/torch there fails loudly).
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { OnnxModels } from "../models/index";
import { runAccDiffusion } from "../pipeline/accdiffusion";
import { type ExportedBundle, openRealArchBundle, REPO_ROOT, realArchRoot } from "./exportBundle";
import { checkExportCases, checkTokenizerIds } from "./exportCases";
import { readReferenceRun, referenceRunDirs } from "./referenceRun";
import { compareToReference, formatMeasurements, replayReference } from "./replayReference";

const ROOT = realArchRoot();
const present = existsSync(join(ROOT, "models")) && existsSync(join(ROOT, "reference"));

describe.skipIf(!present)("the tiny real-architecture SDXL, exported by tools/sdxl-bundle", () => {
  let exported: ExportedBundle;
  let models: OnnxModels;

  beforeAll(async () => {
    ({ exported, models } = await openRealArchBundle({ log: (l) => console.log(l) }));
    console.log(
      `real-arch export: ${exported.cached ? "cached" : "exported"} in ${(exported.exportMs / 1000).toFixed(1)} s`,
    );
  }, 900_000);
  afterAll(async () => {
    await models?.dispose();
  });

  it("passes accdiff bundle check --smoke", async () => {
    const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [
          join(REPO_ROOT, "gpu-runner/bin/accdiff.mjs"),
          "bundle",
          "check",
          exported.bundleDir,
          "--smoke",
          "--provider",
          "cpu",
        ],
        { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] },
      );
      let out = "";
      child.stdout.on("data", (d) => (out += d));
      child.stderr.on("data", (d) => (out += d));
      child.on("error", reject);
      child.on("close", (c) => resolve({ code: c, out }));
    });
    expect(out).toContain("bundle OK");
    expect(code).toBe(0);
  }, 300_000);

  it("declares the model set's own sizes, from its configs", () => {
    const info = models.info;
    expect(info.baseResolution).toBe(256);
    expect(info.textEmbedDim).toBe(32 + 48);
    expect(info.pooledDim).toBe(40);
    expect(models.bundle.dtype).toBe("fp32");
  });

  it("matches PyTorch component by component (text encoders, UNet +- residuals, attention, ControlNet, VAE)", async () => {
    const ms = await checkExportCases(exported.bundleDir, exported.casesDir);
    ms.push(await checkTokenizerIds(exported.bundleDir, exported.tokenizerIdsFile));
    console.log(formatMeasurements(ms).join("\n"));
    const families = ms.map((m) => m.what);
    for (const f of [
      "text_encoder penultimate hidden state",
      "text_encoder_2 penultimate hidden state",
      "text_encoder hidden states",
      "text_encoder_2 text_embeds",
      "unet vs diffusers, no residuals",
      "unet vs diffusers, ControlNet residuals",
      "unet attention_probs vs reference aggregation",
      "controlnet residuals",
      "vae_decoder",
      "vae_encoder",
      "tokenizer.json vs CLIPTokenizer ids",
    ]) {
      expect(families).toContain(f);
    }
    expect(ms.filter((m) => !m.ok)).toEqual([]);
  }, 300_000);

  for (const dir of present ? referenceRunDirs(join(ROOT, "reference")) : []) {
    it(`reproduces the reference __call__ recorded in reference/${dir.split("/").pop()} (referenceCompat, injected draws)`, async () => {
      const r = await replayReference(models, dir);
      console.log(`${formatMeasurements(r.measurements).join("\n")}\nreplay: ${(r.wallMs / 1000).toFixed(1)} s`);
      for (const f of [
        "step latents",
        "decode_in (latents decoded)",
        "images (uint8)",
        "attention",
        "token masks",
        "patch prompts",
        "patch views",
      ]) {
        expect(r.measurements.map((m) => m.what)).toContain(f);
      }
      expect(r.measurements.filter((m) => !m.ok)).toEqual([]);

      // The same comparison fails on a recording that differs anywhere: one latent by 0.05, one pixel by 2, a patch
      // prompt, a mask pixel (the checks can fail).
      const run = readReferenceRun(dir);
      const tensors = new Map(run.manifest.tensors);
      const bump = (name: string, i: number, by: number) => {
        const t = tensors.get(name)!;
        const data = t.data.slice() as Float32Array | Int32Array;
        data[i] += by;
        tensors.set(name, { ...t, data });
      };
      bump("step_latents/2/3", 100, 0.05);
      bump("images/2", 5000, 2);
      bump("masks/2", 10, 255);
      const prompts = structuredClone(run.manifest.meta.prompt_dict);
      prompts["2"][0] += " extra";
      const altered = {
        ...run,
        manifest: { ...run.manifest, tensors, meta: { ...run.manifest.meta, prompt_dict: prompts } },
      };
      const failed = compareToReference(r.result, r.steps, altered)
        .filter((m) => !m.ok)
        .map((m) => m.what);
      expect(failed.sort()).toEqual([
        "canny of the reference image",
        "images (uint8)",
        "patch prompts",
        "step latents",
        "token masks",
      ]);
    }, 600_000);
  }

  it("runs a default-mode 2x job: finite, the exact size, patch prompts on every window", async () => {
    const result = await runAccDiffusion(
      models,
      { prompt: "a red fox sitting in the snow, forest", width: 512, height: 384, steps: 4, seed: 7 },
      { embeddingCache: null },
    );
    expect([result.image.width, result.image.height]).toEqual([512, 384]);
    expect(result.image.data.length).toBe(512 * 384 * 3);
    for (const ph of result.phases) expect(ph.latents.every(Number.isFinite)).toBe(true);
    const last = result.phases[result.phases.length - 1];
    expect(last.kind).toBe("upscale");
    expect(last.patchPrompts?.length).toBeGreaterThan(0);
    expect(last.patchPrompts?.length).toBe(last.patchViews?.length);
    expect(last.patchPrompts?.some((p) => p.length > 0)).toBe(true);
  }, 600_000);
});
