/**
 * An fp16 job with the upscaling phases converting in their own memory (models/types HalfStage) renders the same
 * bytes as with the backend's own conversions: the SDXL-shaped fp16 bundle of bench/backend.ts (nearly free graphs
 * with SDXL's exact signature), 2048x1024 with the ControlNet, every phase's latents compared.
 */
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeSdxlShapedBundle } from "../../../bench/sdxlShapedBundle";
import { runAccDiffusion } from "../../pipeline/accdiffusion";
import { PhaseMemory } from "../../pipeline/kernels/wasm/phaseMemory";
import { loadOnnxModels, type OnnxModels } from "./onnxModels";

let dir: string;
let models: OnnxModels;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "accdiff-halfstage-"));
  await writeSdxlShapedBundle(dir);
  models = await loadOnnxModels(dir, { provider: "cpu", controlPath: "fused" });
}, 120_000);
afterAll(async () => {
  await models?.dispose();
  await rm(dir, { recursive: true, force: true });
});

async function render(): Promise<{ latents: string; image: string; bytes: number }> {
  const before = models.ioStats();
  const r = await runAccDiffusion(
    models,
    { prompt: "a cat and a dog on the lawn", width: 2048, height: 1024, steps: 2, seed: 5, useControlNet: true },
    { embeddingCache: null },
  );
  const h = createHash("sha256");
  for (const p of r.phases) h.update(new Uint8Array(p.latents.buffer, p.latents.byteOffset, p.latents.byteLength));
  const after = models.ioStats();
  return {
    latents: h.digest("hex"),
    image: createHash("sha256").update(r.image.data).digest("hex"),
    bytes: after.bytesIn + after.bytesOut - before.bytesIn - before.bytesOut,
  };
}

describe("half room in the phase memory (fp16 bundle)", () => {
  it("renders the same latents and image as the backend's own conversions", async () => {
    expect(models.info.dtype).toBe("fp16");
    const staged = await render();
    // Without WebAssembly phase memories there is no half room: the JS kernels and the backend's codec run.
    PhaseMemory.wasmEnabled = false;
    try {
      const unstaged = await render();
      expect(staged).toEqual(unstaged);
    } finally {
      PhaseMemory.wasmEnabled = true;
    }
  }, 300_000);
});
