import { mkdtemp, readFile, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkBundle, formatCheckReport } from "./checkBundle";
import { cudaProviderInstalled } from "./onnx/providers";
import { type StubOptions, writeStubBundle } from "./testing/stubBundle";

let root: string;
let n = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "accdiff-check-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function stub(opts: StubOptions = {}): Promise<string> {
  const dir = join(root, `b${n++}`);
  await writeStubBundle(dir, opts);
  return dir;
}

async function editBundleJson(dir: string, edit: (j: Record<string, unknown>) => void): Promise<void> {
  const path = join(dir, "bundle.json");
  const j = JSON.parse(await readFile(path, "utf8"));
  edit(j);
  await writeFile(path, JSON.stringify(j));
}

describe("checkBundle", () => {
  it("accepts a bundle that matches the contract, and runs the smoke test", async () => {
    const dir = await stub();
    const r = await checkBundle(dir, { smoke: true });
    expect(r.problems).toEqual([]);
    expect(r.warnings).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.notes.some((l) => l.startsWith("smoke test (unet, latent 16x16): finite outputs on cpu"))).toBe(true);
    expect(formatCheckReport(r)).toBe(`${dir}: bundle OK (0 problem(s), 0 warning(s))`);
  });

  it("accepts an fp16 bundle with an int64 timestep", async () => {
    const r = await checkBundle(await stub({ dtype: "fp16", timestepType: "int64" }), { smoke: true });
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
  });

  it("explains a missing or unreadable bundle.json", async () => {
    const dir = await stub();
    await writeFile(join(dir, "bundle.json"), "{ not json");
    let r = await checkBundle(dir);
    expect(r.ok).toBe(false);
    expect(r.problems[0]).toMatch(/^bundle\.json: not valid JSON: /);
    await unlink(join(dir, "bundle.json"));
    r = await checkBundle(dir);
    expect(r.problems[0]).toMatch(/^bundle\.json: cannot read .*bundle\.json: file not found$/);
  });

  it("names the bundle.json field that is wrong", async () => {
    const dir = await stub();
    await editBundleJson(dir, (j) => {
      (j.scheduler as Record<string, unknown>).betaStart = "0.00085";
      delete (j.components as Record<string, unknown>).controlnet;
      j.format = "accdiff-bundle/9";
      j.attentionDivisor = 20;
      j.extra = true;
    });
    const r = await checkBundle(dir);
    expect(r.ok).toBe(false);
    const text = r.problems.join("\n");
    expect(text).toMatch(/bundle\.json: format: .*accdiff-bundle\/1/);
    expect(text).toMatch(/bundle\.json: scheduler\.betaStart: .*number/);
    expect(r.warnings).toContain("bundle.json: unknown field 'extra' ignored");
    await editBundleJson(dir, (j) => {
      (j.scheduler as Record<string, unknown>).betaStart = 0.00085;
      j.format = "accdiff-bundle/1";
    });
    const r2 = await checkBundle(dir);
    expect(r2.problems).toEqual([
      "bundle.json: attentionDivisor: must be a multiple of vaeScaleFactor (8), found 20",
      "bundle.json: baseResolution: must be a multiple of attentionDivisor (20), found 64",
      'bundle.json: components.controlnet: required because "controlnet" is "canny"',
    ]);
  });

  it("rejects component paths that leave the bundle", async () => {
    const dir = await stub();
    await editBundleJson(dir, (j) => {
      (j.components as Record<string, unknown>).unet = "../elsewhere/model.onnx";
    });
    const r = await checkBundle(dir);
    expect(r.problems).toEqual([
      "bundle.json: components.unet: must be a relative path inside the bundle (no absolute path, no '..')",
    ]);
  });

  it("names a missing model file and a missing tokenizer", async () => {
    const dir = await stub();
    await unlink(join(dir, "unet", "model.onnx"));
    await rm(join(dir, "tokenizer_2"), { recursive: true });
    const r = await checkBundle(dir);
    expect(r.ok).toBe(false);
    expect(r.problems).toContain("unet/model.onnx: file not found (bundle.json components.unet)");
    expect(r.problems.some((p) => /^tokenizer_2: cannot read .*tokenizer\.json/.test(p))).toBe(true);
  });

  it("names a renamed input as missing, and the unknown one as unfeedable", async () => {
    const r = await checkBundle(await stub({ rename: { "unet/time_ids": "add_time_ids" } }));
    expect(r.problems).toEqual([
      "unet/model.onnx: missing input 'time_ids' (float32 [B, 6]); the model's inputs: sample, timestep, encoder_hidden_states, text_embeds, add_time_ids, down_block_additional_residual_0, down_block_additional_residual_1, down_block_additional_residual_2, down_block_additional_residual_3, down_block_additional_residual_4, down_block_additional_residual_5, down_block_additional_residual_6, down_block_additional_residual_7, down_block_additional_residual_8, mid_block_additional_residual",
      "unet/model.onnx: unexpected input 'add_time_ids' (float32 [batch, 6]): the backend cannot feed it",
    ]);
  });

  it("names a wrong element type", async () => {
    const r = await checkBundle(
      await stub({ typeOverride: { "vae_encoder/sample": "float16", "text_encoder/input_ids": "float32" } }),
    );
    expect(r.problems).toEqual([
      "text_encoder/model.onnx: input 'input_ids': expected element type int32 or int64, found float32",
      "vae_encoder/model.onnx: input 'sample': expected element type float32 (fp32 bundle), found float16",
    ]);
  });

  it("names a wrong rank with both signatures", async () => {
    const r = await checkBundle(await stub({ shapeOverride: { "unet/timestep": ["batch", 1] } }));
    expect(r.problems).toEqual(["unet/model.onnx: input 'timestep': expected rank 1 ([1]), found rank 2 ([batch, 1])"]);
  });

  it("names fixed dimensions that disagree with bundle.json, or should be dynamic", async () => {
    const dir = await stub({ shapeOverride: { "unet/sample": ["batch", 4, 64, 64] } });
    await editBundleJson(dir, (j) => {
      j.textEmbedDim = 12;
    });
    const r = await checkBundle(dir);
    const dyn = "expected a dynamic dimension, found fixed";
    expect(r.problems).toEqual([
      `unet/model.onnx: input 'sample': dimension 2 (h): ${dyn} 64 (the model could serve one size only)`,
      `unet/model.onnx: input 'sample': dimension 3 (w): ${dyn} 64 (the model could serve one size only)`,
      "unet/model.onnx: input 'encoder_hidden_states': dimension 2 (D): expected 12 (bundle.json textEmbedDim), found 10",
      // onnxruntime's shape inference carries the fixed size on to the outputs
      `unet/model.onnx: output 'out_sample': dimension 2 (h): ${dyn} 64 (the model could serve one size only)`,
      `unet/model.onnx: output 'out_sample': dimension 3 (w): ${dyn} 64 (the model could serve one size only)`,
      `unet/model.onnx: output 'attention_probs': dimension 1 (N): ${dyn} 256 (the model could serve one size only)`,
      "controlnet/model.onnx: input 'encoder_hidden_states': dimension 2 (D): expected 12 (bundle.json textEmbedDim), found 10",
      "text encoders: D1 + D2 = 4 + 6 = 10 (text_encoder/model.onnx: output 'hidden_states.0'; text_encoder_2/model.onnx: output 'hidden_states.0'), but bundle.json textEmbedDim is 12",
    ]);
  });

  it("checks residual channels across the UNet and the ControlNet", async () => {
    const r = await checkBundle(
      await stub({ shapeOverride: { "unet/down_block_additional_residual_4": ["batch", 7, "h2", "w2"] } }),
    );
    expect(r.problems).toEqual([
      "controlnet/model.onnx: output 'down_block_res_sample_4': dimension 1 (R4): found 3, but unet/model.onnx: input 'down_block_additional_residual_4' has 7",
    ]);
  });

  it("wants the residual inputs all together, and warns about a UNet without attention maps", async () => {
    const r = await checkBundle(
      await stub({ rename: { "unet/down_block_additional_residual_8": "res8" }, noAttention: true }),
    );
    expect(r.problems).toEqual([
      "unet/model.onnx: missing input 'down_block_additional_residual_8' (float32 [B, R8, h/4, w/4]): the residual inputs come all together",
      "unet/model.onnx: unexpected input 'res8' (float32 [batch, 5, h4, w4]): the backend cannot feed it",
    ]);
    expect(r.warnings).toEqual([
      "unet/model.onnx: no output 'attention_probs' (cross-attention probabilities (needed for patch prompts))",
    ]);
    const text = formatCheckReport(r);
    expect(text.split("\n")[0]).toMatch(/^error: unet\/model\.onnx: missing input/);
    expect(text).toMatch(/warning: unet\/model\.onnx: no output 'attention_probs'/);
    expect(text.split("\n").at(-1)).toMatch(/bundle does NOT match the contract \(2 problem\(s\), 1 warning\(s\)\)$/);
  });

  it("requires the penultimate hidden state", async () => {
    const r = await checkBundle(
      await stub({ rename: { "text_encoder_2/hidden_states.1": "h1", "text_encoder_2/hidden_states.2": "h2" } }),
    );
    expect(r.problems).toEqual([
      "text_encoder_2/model.onnx: expected outputs 'hidden_states.0' .. 'hidden_states.L' with L >= 1 (float32 [b, T, D2], embeddings then each layer; the penultimate is used); found hidden_states.0",
    ]);
  });

  it.skipIf(cudaProviderInstalled().installed)("says how to get CUDA when checking with it", async () => {
    const r = await checkBundle(await stub(), { provider: "cuda" });
    expect(r.ok).toBe(false);
    expect(r.problems.at(-1)).toMatch(/CUDA execution provider requested, .*ONNXRUNTIME_NODE_INSTALL=cuda12/);
  });
});
