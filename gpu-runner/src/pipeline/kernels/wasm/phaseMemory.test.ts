import { afterEach, describe, expect, it } from "vitest";
import { FakeModels, GOLDEN_FAKE_CONSTANTS, SDXL_SCHEDULER } from "../../../golden/testing/fakeModels";
import { runAccDiffusion } from "../../accdiffusion";
import type { PipelineRequest } from "../../params";
import { PhaseMemory } from "./phaseMemory";

const bytes = (a: Float32Array | Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

async function render(request: PipelineRequest): Promise<Buffer[]> {
  const models = new FakeModels({
    constants: GOLDEN_FAKE_CONSTANTS,
    sampleSize: 8,
    scheduler: SDXL_SCHEDULER,
    attention: true,
  });
  const steps: Buffer[] = [];
  const r = await runAccDiffusion(models, request, {
    embeddingCache: null,
    onStep: (_p, _s, t) => steps.push(Buffer.from(bytes(t.data))),
  });
  for (const p of r.phases) steps.push(Buffer.from(bytes(p.latents)), Buffer.from(bytes(p.image.data)));
  return steps;
}

describe("PhaseMemory", () => {
  afterEach(() => {
    PhaseMemory.wasmEnabled = true;
  });

  it("lays out aligned views of one memory, or plain arrays without WebAssembly", () => {
    const mem = new PhaseMemory();
    const v = mem.allocate({ a: 5, b: 3, c: 0 });
    expect(mem.holds(v.a, v.b, v.c)).toBe(true);
    expect([v.a.byteOffset % 16, v.b.byteOffset % 16, v.b.byteOffset - v.a.byteOffset]).toEqual([0, 0, 32]);
    expect(() => mem.allocate({ d: 1 })).toThrow();
    const plain = new PhaseMemory(false);
    expect(plain.kernels).toBeNull();
    expect(plain.holds(plain.allocate({ a: 2 }).a)).toBe(false);
    expect(() => plain.allocate({ a: 2 })).toThrow();
  });

  it("renders bit-identically with the WebAssembly kernels and with the JS ones", async () => {
    const base: PipelineRequest = {
      prompt: "a red car near a blue house",
      negativePrompt: "blurry",
      width: 200,
      height: 136,
      steps: 3,
      seed: 11,
      viewBatchSize: 3,
    };
    for (const extra of [{}, { width: 256, height: 256, viewBatchSize: 16 }, { shuffle: false, useGaussian: false }]) {
      const request = { ...base, ...extra };
      const withWasm = await render(request);
      PhaseMemory.wasmEnabled = false;
      const withJs = await render(request);
      PhaseMemory.wasmEnabled = true;
      expect(withWasm.length).toBe(withJs.length);
      for (let k = 0; k < withJs.length; k++) expect(withWasm[k].equals(withJs[k])).toBe(true);
    }
  });
});
