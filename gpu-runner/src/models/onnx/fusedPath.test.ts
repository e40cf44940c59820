/**
 * The fused ControlNet + UNet (`unet_controlnet`) against the separate models on the toy world, CPU provider: the
 * same bits for the same request, whatever the boxes, the padding or the batch split, and whole jobs render
 * identically down either path.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runAccDiffusion } from "../../pipeline/accdiffusion";
import { ensureToyWorld } from "../../toyworld/index";
import { cropBoxes } from "../controlCrops";
import type { ControlCondition, Tensor, UNetInput } from "../types";
import { loadOnnxModels, type OnnxModels } from "./onnxModels";

let dir: string;
let fused: OnnxModels;
let separate: OnnxModels;
beforeAll(async () => {
  dir = await ensureToyWorld();
  fused = await loadOnnxModels(dir, { provider: "cpu" });
  separate = await loadOnnxModels(dir, { provider: "cpu", controlPath: "separate" });
}, 120_000);
afterAll(async () => {
  await fused?.dispose();
  await separate?.dispose();
});

const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const filled = (shape: number[], f: (i: number) => number): Tensor => {
  const n = shape.reduce((a, b) => a * b, 1);
  return { data: Float32Array.from({ length: n }, (_, i) => f(i)), shape };
};

async function batch(views: number, h: number, w: number): Promise<UNetInput> {
  const { info } = fused;
  const neg = await fused.encodeText("");
  const pos = await fused.encodeText("a cat and a dog on the lawn");
  const D = 77 * info.textEmbedDim;
  const ehs = new Float32Array(2 * views * D);
  const pooled = new Float32Array(2 * views * info.pooledDim);
  for (let v = 0; v < views; v++) {
    ehs.set(neg.hidden, 2 * v * D);
    ehs.set(pos.hidden, (2 * v + 1) * D);
    pooled.set(neg.pooled, 2 * v * info.pooledDim);
    pooled.set(pos.pooled, (2 * v + 1) * info.pooledDim);
  }
  return {
    sample: filled([2 * views, info.latentChannels, h, w], (i) => Math.sin(i * 0.37)),
    timestep: 601,
    encoderHiddenStates: { data: ehs, shape: [2 * views, 77, info.textEmbedDim] },
    textEmbeds: { data: pooled, shape: [2 * views, info.pooledDim] },
    timeIds: filled([2 * views, 6], (i) => [512, 512, 0, 0, 512, 512][i % 6]),
  };
}

describe("fused ControlNet + UNet (toy world, cpu)", () => {
  it("loads the fused component only when asked to", () => {
    expect(fused.fused).toBe(true);
    expect(separate.fused).toBe(false);
  });

  it("gives the separate models' bits: boxes in and around the padding, batch splits", async () => {
    const H = 200;
    const W = 184;
    const condition: ControlCondition = {
      data: Float32Array.from({ length: H * W }, (_, i) => ((i * 7919) % 13 < 3 ? 1 : ((i % 17) - 8) / 40)),
      height: H,
      width: W,
      pad: 32,
    };
    const h = 12;
    const w = 8;
    const input = await batch(3, h, w);
    // Views at the padded frame's corners, inside, and overlapping the zero border.
    const boxes = Int32Array.of(0, 0, 264 - 96, 248 - 64, 40, 100);
    const control = { condition, boxes, conditioningScale: 0.7 };
    const a = await fused.unetControlled!(input, control);
    const b = await separate.unetControlled!(input, control);
    expect(bytes(a.noise.data).equals(bytes(b.noise.data))).toBe(true);
    expect(bytes(a.attention!.data).equals(bytes(b.attention!.data))).toBe(true);

    // The same as the explicit two calls on host crops.
    const cond = cropBoxes(condition, boxes, 2, 8 * h, 8 * w);
    const res = await separate.controlnet({ ...input, cond, conditioningScale: 0.7 });
    const c = await separate.unet(input, res);
    expect(bytes(a.noise.data).equals(bytes(c.noise.data))).toBe(true);

    // A batch split in runs of 2 rows (one view each) changes nothing.
    const split = await loadOnnxModels(dir, { provider: "cpu", maxBatchRows: 3 });
    try {
      const d = await split.unetControlled!(input, control);
      expect(bytes(d.noise.data).equals(bytes(a.noise.data))).toBe(true);
    } finally {
      await split.dispose();
    }
    // The ControlNet does something here (a zero scale differs).
    const off = await fused.unetControlled!(input, { ...control, conditioningScale: 0 });
    expect(bytes(off.noise.data).equals(bytes(a.noise.data))).toBe(false);
  });

  it("refuses boxes outside the padded condition", async () => {
    const condition: ControlCondition = { data: new Float32Array(64 * 64), height: 64, width: 64, pad: 8 };
    const input = await batch(1, 4, 4);
    await expect(
      fused.unetControlled!(input, { condition, boxes: Int32Array.of(50, 0), conditioningScale: 1 }),
    ).rejects.toThrow(/leaves the 80x80 padded condition/);
  });

  it("renders a whole ControlNet job to the same bytes down both paths", async () => {
    const request = { prompt: "a cat and a dog on the lawn", width: 768, height: 768, steps: 4, seed: 3 };
    const run = (models: OnnxModels) =>
      runAccDiffusion(models, { ...request, useControlNet: true }, { embeddingCache: null });
    const a = await run(fused);
    const b = await run(separate);
    const img = (r: typeof a) => Buffer.from(r.image.data);
    expect(img(a).equals(img(b))).toBe(true);
    const last = (r: typeof a) => r.phases[r.phases.length - 1];
    expect(last(a).calls.controlnetBatchSizes.length).toBeGreaterThan(0);
    expect(last(a).calls.controlnetBatchSizes).toEqual(last(b).calls.controlnetBatchSizes);
  }, 120_000);
});
