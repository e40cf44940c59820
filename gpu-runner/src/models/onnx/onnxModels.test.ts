import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { float32ToHalfBits, halfBitsToFloat32, toHalfArray } from "../../pipeline/kernels/halfFloat/js";
import { PhaseMemory, uint16View } from "../../pipeline/kernels/wasm/phaseMemory";
import { wasmStepKernels } from "../../pipeline/kernels/wasmStepKernels";
import { STUB, writeStubBundle } from "../testing/stubBundle";
import { loadClipTokenizer } from "../tokenizer";
import type { Models, Tensor, UNetInput } from "../types";
import { ContractError } from "./componentSession";
import { loadOnnxModels, type OnnxModels } from "./onnxModels";
import { cudaProviderInstalled, ProviderUnavailableError } from "./providers";

const f = Math.fround;
const half = (x: number) => halfBitsToFloat32(float32ToHalfBits(x));

let root: string;
let fp32: OnnxModels;
let fp16: OnnxModels;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "accdiff-onnx-"));
  await writeStubBundle(join(root, "fp32"));
  await writeStubBundle(join(root, "fp16"), { dtype: "fp16", timestepType: "int64" });
  await writeStubBundle(join(root, "plain"), { noControlnet: true, noAttention: true });
  fp32 = await loadOnnxModels(join(root, "fp32"), { provider: "cpu" });
  fp16 = await loadOnnxModels(join(root, "fp16"), { provider: "cpu", maxBatchRows: 1 });
});
afterAll(async () => {
  await fp32?.dispose();
  await fp16?.dispose();
  await rm(root, { recursive: true, force: true });
});

/** Deterministic pseudo-random tensor. */
function tensor(shape: number[], seed: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.sin(seed * 12.9898 + i * 78.233) * 0.9;
  return { data, shape };
}

function unetInput(rows: number, h: number, w: number): UNetInput {
  return {
    sample: tensor([rows, STUB.C, h, w], 1),
    timestep: 981,
    encoderHiddenStates: tensor([rows, STUB.T, STUB.D1 + STUB.D2], 2),
    textEmbeds: tensor([rows, STUB.P], 3),
    timeIds: tensor([rows, 6], 4),
  };
}

const rowMean = (t: Tensor, r: number) => {
  const n = t.data.length / t.shape[0];
  let s = 0;
  for (let i = 0; i < n; i++) s += t.data[r * n + i];
  return s / n;
};

/** The stub UNet's closed form (see testing/stubBundle.ts). */
function expectedNoise(input: UNetInput, residuals: Tensor[] = [], timestep = input.timestep): Float32Array {
  const [rows, c, h, w] = input.sample.shape;
  const out = new Float32Array(rows * c * h * w);
  for (let r = 0; r < rows; r++) {
    let add =
      0.001 * timestep +
      rowMean(input.encoderHiddenStates, r) +
      rowMean(input.textEmbeds, r) +
      rowMean(input.timeIds, r);
    for (const res of residuals) add += rowMean(res, r);
    for (let i = 0; i < c * h * w; i++) out[r * c * h * w + i] = 0.5 * input.sample.data[r * c * h * w + i] + add;
  }
  return out;
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number) {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  expect(worst).toBeLessThanOrEqual(tol);
}

describe("loadOnnxModels on the stub bundle (cpu)", () => {
  it("exposes bundle.json as info and tokenizes with tokenizer 1", () => {
    expect(fp32.provider).toBe("cpu");
    expect(fp32.info.textEmbedDim).toBe(10);
    expect(fp32.info.scheduler.timestepSpacing).toBe("leading");
    const p = fp32.tokenize("a red cat");
    expect(p.tokens).toEqual(["<|startoftext|>", "a", "red", "cat", "<|endoftext|>"]);
  });

  it("encodeText concatenates both penultimate hidden states and returns text_embeds as pooled", async () => {
    const tok1 = await loadClipTokenizer(join(root, "fp32", "tokenizer"), 77);
    const tok2 = await loadClipTokenizer(join(root, "fp32", "tokenizer_2"), 77);
    const ids1 = tok1.tokenize("a red cat").ids;
    const ids2 = tok2.tokenize("a red cat").ids;
    expect(ids1[10]).not.toBe(ids2[10]); // different pad tokens
    for (const [models, round] of [
      [fp32, (x: number) => x],
      [fp16, half],
    ] as const) {
      const e = await models.encodeText("a red cat");
      expect(e.hidden.length).toBe(77 * 10);
      expect(e.pooled.length).toBe(3);
      for (let t = 0; t < 77; t++) {
        for (let j = 0; j < 4; j++) expect(e.hidden[t * 10 + j]).toBe(round(f(ids1[t] * f(STUB.TE1_W[2][j]))));
        for (let j = 0; j < 6; j++) expect(e.hidden[t * 10 + 4 + j]).toBe(round(f(ids2[t] * f(STUB.TE2_W[1][j]))));
      }
      const sum = ids2.reduce((a, b) => a + b, 0);
      for (let j = 0; j < 3; j++) expect(e.pooled[j]).toBe(round(f(sum * f(STUB.POOL_W[j]))));
    }
  });

  it("runs the UNet with zero residuals, splitting batches without changing results", async () => {
    const input = unetInput(3, 8, 12);
    const whole = await fp32.unet(input);
    const split = await loadOnnxModels(join(root, "fp32"), { provider: "cpu", maxBatchRows: 2, lazy: true });
    try {
      const parts = await split.unet(input);
      expect(parts.noise.shape).toEqual([3, 4, 8, 12]);
      expect(Array.from(parts.noise.data)).toEqual(Array.from(whole.noise.data));
      expect(Array.from(parts.attention!.data)).toEqual(Array.from(whole.attention!.data));
    } finally {
      await split.dispose();
    }
    expectClose(whole.noise.data, expectedNoise(input), 1e-5);
  });

  it("returns attention_probs [B, (h/4)*(w/4), T] for every row, row-major pixels, rows summing to 1", async () => {
    const input = unetInput(2, 8, 12);
    const { attention } = await fp32.unet(input);
    expect(attention!.shape).toEqual([2, 6, 77]);
    for (let r = 0; r < 2; r++) {
      for (let py = 0; py < 2; py++) {
        for (let px = 0; px < 3; px++) {
          // mean over channels and the 4x4 block of pixel (py, px)
          let m = 0;
          for (let c = 0; c < 4; c++)
            for (let y = 0; y < 4; y++)
              for (let x = 0; x < 4; x++) m += input.sample.data[((r * 4 + c) * 8 + py * 4 + y) * 12 + px * 4 + x];
          m /= 64;
          const logits = STUB.ATT_G.map((g) => m * g);
          const z = logits.reduce((a, l) => a + Math.exp(l), 0);
          const row = attention!.data.subarray(((r * 2 + py) * 3 + px) * 77, ((r * 2 + py) * 3 + px + 1) * 77);
          expectClose(
            row,
            logits.map((l) => Math.exp(l) / z),
            1e-6,
          );
        }
      }
    }
  });

  it("feeds ControlNet residuals through, with the ControlNet's own closed form", async () => {
    const input = unetInput(2, 8, 8);
    const cond = tensor([2, 3, 64, 64], 5);
    const res = await fp32.controlnet({ ...input, cond, conditioningScale: 0.6 });
    expect(res.down.map((t) => t.shape)).toEqual([
      [2, 2, 8, 8],
      [2, 2, 8, 8],
      [2, 2, 8, 8],
      [2, 2, 4, 4],
      [2, 3, 4, 4],
      [2, 3, 4, 4],
      [2, 3, 2, 2],
      [2, 5, 2, 2],
      [2, 5, 2, 2],
    ]);
    expect(res.mid.shape).toEqual([2, 5, 2, 2]);
    // residual 0 at (row 1, channel 1, y 3, x 5): 0.6 * (mean_C sample + mean(cond row) + 0)
    let m = 0;
    for (let c = 0; c < 4; c++) m += input.sample.data[((1 * 4 + c) * 8 + 3) * 8 + 5];
    const want0 = 0.6 * (m / 4 + rowMean(cond, 1));
    expect(res.down[0].data[((1 * 2 + 1) * 8 + 3) * 8 + 5]).toBeCloseTo(want0, 5);
    // mid (factor 4) at (row 0, y 0, x 0): the 4x4 block mean over channels, plus 9 (its index)
    let block = 0;
    for (let c = 0; c < 4; c++)
      for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) block += input.sample.data[(c * 8 + y) * 8 + x];
    expect(res.mid.data[0]).toBeCloseTo(0.6 * (block / 64 + rowMean(cond, 0) + 9), 5);
    const out = await fp32.unet(input, res);
    expectClose(out.noise.data, expectedNoise(input, [...res.down, res.mid]), 1e-5);
  });

  it("runs an fp16 bundle: half feeds, int64 timestep, batch split into single rows", async () => {
    const input = unetInput(2, 8, 8);
    input.timestep = 981.4; // the model declares int64: fed as 981
    const out = await fp16.unet(input);
    const halfInput: UNetInput = {
      ...input,
      sample: { ...input.sample, data: input.sample.data.map(half) },
      encoderHiddenStates: { ...input.encoderHiddenStates, data: input.encoderHiddenStates.data.map(half) },
      textEmbeds: { ...input.textEmbeds, data: input.textEmbeds.data.map(half) },
      timeIds: { ...input.timeIds, data: input.timeIds.data.map(half) },
    };
    const want = expectedNoise(halfInput, [], 981).map(half);
    expectClose(out.noise.data, want, 4e-3);
    expect(out.attention!.shape).toEqual([2, 4, 77]);
    const res = await fp16.controlnet({ ...input, cond: tensor([2, 3, 64, 64], 6), conditioningScale: 1 });
    expect(res.down[8].shape).toEqual([2, 5, 2, 2]);
    await expect(fp16.unet(input, res)).resolves.toBeDefined();
  });

  it("narrows and widens in the caller's half room (HalfStage), with the same bits, paired rows or not", async () => {
    const whole = await loadOnnxModels(join(root, "fp16"), { provider: "cpu" });
    try {
      // Rows in CFG pairs (2r, 2r + 1 equal), as the upscaling branches write them.
      const input = unetInput(4, 8, 8);
      const row = input.sample.data.length / 4;
      for (const r of [0, 2]) input.sample.data.copyWithin((r + 1) * row, r * row, (r + 1) * row);
      const plain = await whole.unet({ ...input, attention: false });
      const n = input.sample.data.length;
      const mem = new PhaseMemory();
      const m = mem.allocate({ sample: n, noise: n, halfSample: n / 2, halfNoise: n / 2 });
      m.sample.set(input.sample.data);
      const kernels = wasmStepKernels(mem.kernels!, mem);
      const stage = {
        sample: uint16View(m.halfSample),
        noise: uint16View(m.halfNoise),
        toHalf: kernels.toHalf,
        fromHalf: kernels.fromHalf,
      };
      for (const pairedRows of [false, true]) {
        m.noise.fill(0);
        stage.sample.fill(0);
        const out = await whole.unet({
          ...input,
          sample: { data: m.sample, shape: input.sample.shape },
          attention: false,
          noiseOut: m.noise,
          halfStage: stage,
          pairedRows,
        });
        expect(out.noise.data.buffer).toBe(m.noise.buffer); // written in place
        expect(
          Buffer.from(out.noise.data.buffer, out.noise.data.byteOffset, 4 * n).equals(
            Buffer.from(plain.noise.data.buffer, plain.noise.data.byteOffset, 4 * n),
          ),
        ).toBe(true);
        expect(Array.from(stage.sample)).toEqual(Array.from(toHalfArray(input.sample.data)));
      }
      // A stage too small for the call is not used: the backend's own path gives the same values.
      const small = { ...stage, sample: stage.sample.subarray(0, 8), noise: stage.noise.subarray(0, 8) };
      const out = await whole.unet({ ...input, attention: false, noiseOut: new Float32Array(n), halfStage: small });
      expect(Array.from(out.noise.data)).toEqual(Array.from(plain.noise.data));
    } finally {
      await whole.dispose();
    }
  });

  it("decodes and encodes with the VAE, row by row", async () => {
    const z = tensor([2, 4, 2, 3], 7);
    const img = await fp32.vaeDecode(z);
    expect(img.shape).toEqual([2, 3, 16, 24]);
    expect(img.data[((1 * 3 + 2) * 16 + 9) * 24 + 17]).toBe(f(0.5 * z.data[((1 * 4 + 2) * 2 + 1) * 3 + 2]));
    const back = await fp32.vaeEncode(img);
    expect(back.shape).toEqual([2, 4, 2, 3]);
    for (let i = 0; i < 2 * 3 * 6; i++) {
      const r = Math.floor(i / 18);
      const c = Math.floor(i / 6) % 3;
      expect(back.data[(r * 4 + c) * 6 + (i % 6)]).toBeCloseTo(0.5 * z.data[(r * 4 + c) * 6 + (i % 6)], 6);
    }
  });

  it("rejects malformed inputs with the tensor named", async () => {
    const input = unetInput(2, 8, 8);
    await expect(fp32.unet({ ...input, timeIds: tensor([2, 5], 1) })).rejects.toThrow(
      /timeIds: expected shape \[2, 6\]/,
    );
    await expect(fp32.unet({ ...input, sample: tensor([2, 3, 8, 8], 1) })).rejects.toThrow(/expected 4 channels/);
    const res = await fp32.controlnet({ ...input, cond: tensor([2, 3, 64, 64], 5), conditioningScale: 1 });
    await expect(fp32.unet(input, { down: res.down.slice(1), mid: res.mid })).rejects.toThrow(
      /expected 9 down residuals/,
    );
    await expect(fp32.controlnet({ ...input, cond: tensor([2, 3, 32, 32], 5), conditioningScale: 1 })).rejects.toThrow(
      /cond: expected \[2, 3, 64, 64\]/,
    );
  });

  it("has no ControlNet and no attention when the bundle has none", async () => {
    const plain: Models = await loadOnnxModels(join(root, "plain"), { provider: "cpu" });
    try {
      const input = unetInput(1, 8, 8);
      const out = await plain.unet(input);
      expect(out.attention).toBeUndefined();
      expectClose(out.noise.data, expectedNoise(input), 1e-5);
      await expect(
        plain.controlnet({ ...input, cond: tensor([1, 3, 64, 64], 1), conditioningScale: 1 }),
      ).rejects.toThrow(/has no ControlNet/);
      const res = await fp32.controlnet({ ...input, cond: tensor([1, 3, 64, 64], 1), conditioningScale: 1 });
      await expect(plain.unet(input, res)).rejects.toThrow(/no ControlNet residual inputs/);
    } finally {
      await plain.dispose?.();
    }
  });
});

describe("execution providers", () => {
  const cudaInstalled = cudaProviderInstalled().installed;

  it.skipIf(cudaInstalled)("asking for CUDA without the CUDA provider fails naming the fix", async () => {
    const err = await loadOnnxModels(join(root, "fp32"), { provider: "cuda" }).catch((e) => e);
    expect(err).toBeInstanceOf(ProviderUnavailableError);
    expect(err.message).toMatch(/CUDA execution provider requested/);
    expect(err.message).toMatch(/ONNXRUNTIME_NODE_INSTALL=cuda12/);
  });

  it.skipIf(cudaInstalled)("auto falls back to cpu only explicitly, and says so", async () => {
    const said: string[] = [];
    const logger = { info: (m: string) => said.push(m), warn: (m: string) => said.push(m) };
    const models = await loadOnnxModels(join(root, "fp32"), { provider: "auto", logger, lazy: true });
    try {
      expect(models.provider).toBe("cpu");
      expect(said.some((m) => /execution provider: cpu \(auto/.test(m))).toBe(true);
    } finally {
      await models.dispose();
    }
  });

  it("reports every contract problem at load", async () => {
    const dir = join(root, "broken");
    await writeStubBundle(dir, {
      rename: { "unet/time_ids": "add_time_ids" },
      typeOverride: { "vae_decoder/latent_sample": "float16" },
    });
    const err = await loadOnnxModels(dir, { provider: "cpu" }).catch((e) => e);
    expect(err).toBeInstanceOf(ContractError);
    expect(err.problems).toContain(
      "unet/model.onnx: unexpected input 'add_time_ids' (float32 [batch, 6]): the backend cannot feed it",
    );
    expect(err.problems.some((p: string) => p.startsWith("unet/model.onnx: missing input 'time_ids'"))).toBe(true);
    expect(err.problems).toContain(
      "vae_decoder/model.onnx: input 'latent_sample': expected element type float32 (fp32 bundle), found float16",
    );
  });
});
