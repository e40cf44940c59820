/**
 * Test support for the size sweep: the toy world at a small base resolution, requests validated and mapped exactly as
 * the API and the runner do (shared `resolveRequest` with the base's limits, runner `toPipelineRequest`), and the
 * checks every render of the sweep must pass: the exact requested size, finite latents after every step of every
 * phase, and patch prompts on every upscaling phase of scale >= 2 (one non-empty prompt per window).
 */
import {
  type GenerationRequest,
  limitsForBase,
  type RequestLimits,
  resolveRequest,
  type SweepSize,
} from "@accdiff/shared";
import { expect } from "vitest";
import { loadOnnxModels, type OnnxModels } from "../models/index";
import type { Models } from "../models/types";
import { runAccDiffusion } from "../pipeline/accdiffusion";
import type { RgbImage } from "../pipeline/params";
import type { PipelineResult } from "../pipeline/result";
import { EmbeddingLru } from "../pipeline/textEncoding";
import { toPipelineRequest } from "../runner/requestMapping";
import { ensureToyWorld } from "../toyworld/index";
import { THINGS } from "../toyworld/world";

/** The sweep's base: the toy world's models are size-agnostic; 128 px (16 latents) keeps 4x renders under 3 s. */
export const SWEEP_BASE = 128;
export const SWEEP_LIMITS: RequestLimits = limitsForBase(SWEEP_BASE);
export const SWEEP_STEPS = 2;
const PROMPT = "a cat and a dog on the lawn";

/** The toy world with `baseResolution` replaced: what a bundle of that base with the same models would be. */
export function atBase(models: Models, base: number): Models {
  return {
    info: { ...models.info, baseResolution: base },
    tokenize: (t) => models.tokenize(t),
    encodeText: (t) => models.encodeText(t),
    unet: (i, r) => models.unet(i, r),
    controlnet: (i) => models.controlnet(i),
    vaeDecode: (l) => models.vaeDecode(l),
    vaeEncode: (i) => models.vaeEncode(i),
  };
}

export async function loadSweepModels(): Promise<{ onnx: OnnxModels; models: Models }> {
  const onnx = await loadOnnxModels(await ensureToyWorld(), { provider: "cpu" });
  return { onnx, models: atBase(onnx, SWEEP_BASE) };
}

/** A toy-world scene (lawn, a cat and a dog in the world's colours) of any size: the upload to upscale. */
export function sceneImage(width: number, height: number): RgbImage {
  const u8 = (rgb: readonly number[]) => rgb.map((v) => Math.round((v + 1) * 127.5));
  const [lawn, cat, dog] = [THINGS[4], THINGS[0], THINGS[1]].map((t) => u8(t.rgb));
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const u = x / width;
      const v = y / height;
      const c =
        u > 0.15 && u < 0.45 && v > 0.2 && v < 0.6 ? cat : u > 0.55 && u < 0.9 && v > 0.4 && v < 0.8 ? dog : lawn;
      data.set(c, (y * width + x) * 3);
    }
  }
  return { data, width, height };
}

export interface SweepCase extends SweepSize {
  /** The upload's size, for upscale cases. */
  upload?: { width: number; height: number };
  progressive?: boolean;
}

const label = (c: SweepCase) =>
  `${c.width}x${c.height} (${c.ratio}${c.upload ? `, from ${c.upload.width}x${c.upload.height}` : ""}${c.progressive === false ? ", no progressive upscaling" : ""})`;

/** Renders one case through the API's validation and the runner's mapping, checking what every render must satisfy. */
/**
 * `wordsInEveryWindow`: every window's prompt names a word (true for the toy world, whose lawn covers every window;
 * not for random weights, whose attention may cover no word by c anywhere: the window's prompt is then empty, as in
 * the reference).
 */
export async function renderAndCheck(
  models: Models,
  c: SweepCase,
  cache: EmbeddingLru,
  wordsInEveryWindow = true,
): Promise<PipelineResult> {
  const req: GenerationRequest = { prompt: PROMPT, width: c.width, height: c.height, steps: SWEEP_STEPS, seed: 7 };
  if (c.progressive === false) req.switches = { progressiveUpscaling: false };
  const init = c.upload ? sceneImage(c.upload.width, c.upload.height) : undefined;
  if (init) req.image = { sha256: "0".repeat(64), width: init.width, height: init.height };
  const resolved = resolveRequest(req, SWEEP_LIMITS); // throws when the API would refuse it: not in the domain
  let nonFinite = "";
  const r = await runAccDiffusion(models, toPipelineRequest(resolved, init), {
    embeddingCache: cache,
    onStep: (phase, step, t) => {
      if (!nonFinite && !t.data.every(Number.isFinite)) nonFinite = `phase ${phase} step ${step}`;
    },
  });
  const what = label(c);
  expect([r.image.width, r.image.height], what).toEqual([c.width, c.height]);
  expect(r.image.data.length, what).toBe(c.width * c.height * 3);
  const last = r.phases[r.phases.length - 1];
  expect([last.spec.latentWidth * 8, last.spec.latentHeight * 8], what).toEqual([c.width, c.height]);
  expect(nonFinite, `${what}: non-finite latents at ${nonFinite}`).toBe("");
  for (const p of r.phases) expect(p.latents.every(Number.isFinite), `${what}: phase ${p.id} latents`).toBe(true);
  expect(r.attention, `${what}: no attention maps`).toBeDefined();
  for (const p of r.phases.filter((q) => q.kind === "upscale" && q.spec.scale >= 2)) {
    const prompts = r.patchPrompts[p.id];
    expect(prompts, `${what}: phase ${p.id} has no patch prompts`).toBeDefined();
    expect(prompts.length, `${what}: phase ${p.id} prompts per window`).toBe(p.patchViews?.length);
    expect(prompts.length, what).toBeGreaterThan(0);
    for (const s of prompts) expect(typeof s, what).toBe("string");
    if (wordsInEveryWindow) {
      for (const s of prompts) expect(s.trim().length, `${what}: phase ${p.id} empty prompt`).toBeGreaterThan(0);
    }
  }
  expect(
    r.warnings.filter((w) => /patch prompts/.test(w)),
    what,
  ).toEqual([]);
  return r;
}

export { EmbeddingLru };
