import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseBundleJson, toBundleInfo } from "../models/bundleJson";
import { bundleHash, generateToyWorld } from "./bundle";
import { buildToyWorld, ensureToyWorld } from "./index";
import { SCHEDULER, VAE_SCALING_FACTOR } from "./world";

let scratch = "";
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), "toyworld-"));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe("toy-world bundle", () => {
  it("generates in well under a second, deterministically", () => {
    const t0 = performance.now();
    const a = generateToyWorld();
    expect(performance.now() - t0).toBeLessThan(3000);
    const b = generateToyWorld();
    expect(b.hash).toBe(a.hash);
    expect([...b.files.keys()]).toEqual([...a.files.keys()]);
    for (const [path, bytes] of a.files) expect(Buffer.from(b.files.get(path)!).equals(Buffer.from(bytes))).toBe(true);
  });

  it("has SDXL's layout and a bundle.json the runner accepts", () => {
    const { files, bundleJson } = generateToyWorld();
    for (const p of [
      "bundle.json",
      "text_encoder/model.onnx",
      "text_encoder_2/model.onnx",
      "unet/model.onnx",
      "controlnet/model.onnx",
      "vae_decoder/model.onnx",
      "vae_encoder/model.onnx",
      ...["tokenizer", "tokenizer_2"].flatMap((d) =>
        ["vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json"].map(
          (f) => `${d}/${f}`,
        ),
      ),
    ])
      expect(files.has(p), p).toBe(true);
    const parsed = parseBundleJson(JSON.parse(new TextDecoder().decode(files.get("bundle.json"))));
    expect(parsed.ok && parsed.warnings).toEqual([]);
    if (!parsed.ok) return;
    const info = toBundleInfo(parsed.bundle);
    expect(info).toMatchObject({
      baseResolution: 512,
      vaeScaleFactor: 8,
      latentChannels: 4,
      vaeScalingFactor: VAE_SCALING_FACTOR,
      dtype: "fp32",
      attentionDivisor: 32,
      textEmbedDim: 32,
      pooledDim: 16,
      maxTokens: 77,
      scheduler: SCHEDULER,
    });
    expect(bundleJson.hash).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it("hashes every file but bundle.json, names included", () => {
    const { files, hash } = generateToyWorld();
    expect(bundleHash(files)).toBe(hash);
    const changed = new Map(files);
    changed.set("unet/model.onnx", Uint8Array.of(...files.get("unet/model.onnx")!.slice(0, -1), 0));
    expect(bundleHash(changed)).not.toBe(hash);
    const renamed = new Map(files);
    renamed.set("unet/model2.onnx", files.get("unet/model.onnx")!);
    renamed.delete("unet/model.onnx");
    expect(bundleHash(renamed)).not.toBe(hash);
    const withoutJson = new Map(files);
    withoutJson.delete("bundle.json");
    expect(bundleHash(withoutJson)).toBe(hash);
  });

  it("buildToyWorld writes every file; ensureToyWorld keeps a current bundle and rebuilds a stale one", async () => {
    const dir = join(scratch, "world");
    const summary = await buildToyWorld(dir);
    expect(summary.files.length).toBe(generateToyWorld().files.size);
    const json = JSON.parse(await readFile(join(dir, "bundle.json"), "utf8"));
    expect(json.hash).toBe(summary.hash);

    const unet = join(dir, "unet", "model.onnx");
    const before = (await stat(unet)).mtimeMs;
    expect(await ensureToyWorld(dir)).toBe(dir);
    expect((await stat(unet)).mtimeMs).toBe(before);

    await writeFile(unet, "corrupted");
    await ensureToyWorld(dir);
    expect((await readFile(unet)).equals(Buffer.from(generateToyWorld().files.get("unet/model.onnx")!))).toBe(true);

    const fresh = join(scratch, "missing", "world");
    await Promise.all([ensureToyWorld(fresh), ensureToyWorld(fresh)]);
    expect(JSON.parse(await readFile(join(fresh, "bundle.json"), "utf8")).hash).toBe(summary.hash);
  });
});
