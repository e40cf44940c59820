/** The generated toy-world bundle through the real backend on the CPU: contract, shapes, sanity. */
import { attentionGrid } from "@accdiff/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureToyWorld } from "../../toyworld/index";
import { checkBundle } from "../checkBundle";
import type { Tensor, UNetInput } from "../types";
import { loadOnnxModels, type OnnxModels } from "./onnxModels";

let dir: string;
let models: OnnxModels;
beforeAll(async () => {
  dir = await ensureToyWorld();
  models = await loadOnnxModels(dir, { provider: "cpu" });
}, 120_000);
afterAll(async () => {
  await models?.dispose();
});

const filled = (shape: number[], f: (i: number) => number): Tensor => {
  const n = shape.reduce((a, b) => a * b, 1);
  return { data: Float32Array.from({ length: n }, (_, i) => f(i)), shape };
};

describe("toy world through onnxruntime-node (cpu)", () => {
  it("matches the contract, smoke test included", async () => {
    const r = await checkBundle(dir, { smoke: true });
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
  });

  it("runs text encoding, UNet with and without ControlNet, and the VAE", async () => {
    const { info } = models;
    expect(info.baseResolution).toBe(512);
    const prompt = models.tokenize("a photo of a cat");
    expect(prompt.ids.length).toBe(77);
    expect(prompt.tokens[0]).toBe("<|startoftext|>");
    const cond = await models.encodeText("a photo of a cat");
    const uncond = await models.encodeText("");
    expect(cond.hidden.length).toBe(77 * info.textEmbedDim);
    expect(cond.pooled.length).toBe(info.pooledDim);
    expect(cond.hidden.every(Number.isFinite)).toBe(true);
    expect(cond.hidden).not.toEqual(uncond.hidden);

    const h = 32;
    const w = 48;
    const ehs = new Float32Array(2 * 77 * info.textEmbedDim);
    ehs.set(uncond.hidden, 0);
    ehs.set(cond.hidden, 77 * info.textEmbedDim);
    const pooled = new Float32Array(2 * info.pooledDim);
    pooled.set(uncond.pooled, 0);
    pooled.set(cond.pooled, info.pooledDim);
    const input: UNetInput = {
      sample: filled([2, info.latentChannels, h, w], (i) => Math.sin(i * 0.37)),
      timestep: 801,
      encoderHiddenStates: { data: ehs, shape: [2, 77, info.textEmbedDim] },
      textEmbeds: { data: pooled, shape: [2, info.pooledDim] },
      timeIds: filled([2, 6], (i) => [256, 384, 0, 0, 256, 384][i % 6]),
    };
    const plain = await models.unet(input);
    expect(plain.noise.shape).toEqual([2, info.latentChannels, h, w]);
    expect(plain.noise.data.every(Number.isFinite)).toBe(true);
    const a = info.attentionDivisor / info.vaeScaleFactor;
    expect(plain.attention!.shape).toEqual([2, (h / a) * (w / a), 77]);
    for (let p = 0; p < 2 * (h / a) * (w / a); p++) {
      let s = 0;
      for (let t = 0; t < 77; t++) s += plain.attention!.data[p * 77 + t];
      expect(Math.abs(s - 1)).toBeLessThan(1e-4);
    }

    const res = await models.controlnet({
      ...input,
      cond: filled([2, 3, 8 * h, 8 * w], (i) => ((i >> 5) % 7 === 0 ? 1 : 0)),
      conditioningScale: 0.6,
    });
    expect(res.down.length).toBe(9);
    const controlled = await models.unet(input, res);
    expect(controlled.noise.data.every(Number.isFinite)).toBe(true);
    // Zero-scaled residuals are exactly "no ControlNet".
    const zero = await models.controlnet({
      ...input,
      cond: filled([2, 3, 8 * h, 8 * w], () => 1),
      conditioningScale: 0,
    });
    const same = await models.unet(input, zero);
    expect(Array.from(same.noise.data)).toEqual(Array.from(plain.noise.data));

    const image = await models.vaeDecode(filled([1, info.latentChannels, 16, 24], (i) => Math.cos(i * 0.11)));
    expect(image.shape).toEqual([1, 3, 128, 192]);
    expect(image.data.every((v) => Number.isFinite(v) && v >= -1.0001 && v <= 1.0001)).toBe(true);
    const latents = await models.vaeEncode(image);
    expect(latents.shape).toEqual([1, info.latentChannels, 16, 24]);
  });

  it("gives SDXL's ceil(h/4) x ceil(w/4) attention grid at latent sides that are not multiples of 4", async () => {
    const { info } = models;
    const cond = await models.encodeText("a cat and a dog");
    const call = (h: number, w: number, sample: (y: number, x: number, c: number) => number) =>
      models.unet({
        sample: filled([1, info.latentChannels, h, w], (i) =>
          sample(Math.floor(i / w) % h, i % w, Math.floor(i / (h * w))),
        ),
        timestep: 501,
        encoderHiddenStates: { data: cond.hidden, shape: [1, 77, info.textEmbedDim] },
        textEmbeds: { data: cond.pooled, shape: [1, info.pooledDim] },
        timeIds: filled([1, 6], (i) => [336, 168, 0, 0, 336, 168][i]),
      });
    const pattern = (y: number, x: number, c: number) => Math.sin(y * 0.7 + x * 0.3 + c);
    // 42x21: the phase-1 latent of a 3:2 render (512x336 px) on its side; the real UNet's maps are 11x6 there.
    expect(attentionGrid(info, 42, 21)).toEqual({ mapH: 11, mapW: 6 });
    const odd = await call(42, 21, pattern);
    expect(odd.attention!.shape).toEqual([1, 11 * 6, 77]);
    expect(odd.attention!.data.every(Number.isFinite)).toBe(true);
    for (let p = 0; p < 11 * 6; p++) {
      let sum = 0;
      for (let t = 0; t < 77; t++) sum += odd.attention!.data[p * 77 + t];
      expect(Math.abs(sum - 1)).toBeLessThan(1e-4);
    }
    // A latent smaller than one cell still has one (the real UNet: 1x1 -> 1x1).
    expect((await call(1, 1, pattern)).attention!.shape).toEqual([1, 1, 77]);
  });
});
