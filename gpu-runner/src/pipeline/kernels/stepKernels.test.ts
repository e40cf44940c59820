import { describe, expect, it } from "vitest";
import { JS_STEP_KERNELS } from "./jsStepKernels";
import { PhaseMemory } from "./wasm/phaseMemory";
import { stepKernelsFor, wasmStepKernels } from "./wasmStepKernels";

const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const wave = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(seed + i)));

describe("StepKernels backends", () => {
  it("are chosen once per phase memory: WebAssembly where it has kernels, JS otherwise", () => {
    const mem = new PhaseMemory();
    const buf = mem.allocate({ a: 8, table: 4, gauss: 4, perm: 2 });
    const scratch = {
      table: new Int32Array(buf.table.buffer, buf.table.byteOffset, 4),
      gauss: buf.gauss,
      perm: new Int32Array(2),
    };
    const wasm = stepKernelsFor(mem, scratch);
    expect(wasm.backend).toBe("wasm");
    expect(wasm.addresses(buf.a)).toBe(true);
    expect(wasm.addresses(buf.a, new Float32Array(8))).toBe(false);
    const plain = new PhaseMemory(false);
    plain.allocate({ a: 8 });
    const js = stepKernelsFor(plain, scratch);
    expect(js).toBe(JS_STEP_KERNELS);
    expect(js.addresses(buf.a)).toBe(false);
  });

  it("the WebAssembly backend runs the JS form on arrays outside its memory, with the same values", () => {
    const mem = new PhaseMemory();
    const buf = mem.allocate({ lat: 64, up: 64, noise: 64 });
    const k = wasmStepKernels(mem.kernels!, mem);
    const outside = { lat: wave(64, 1), up: wave(64, 2), noise: wave(64, 3) };
    buf.lat.set(outside.lat);
    buf.up.set(outside.up);
    buf.noise.set(outside.noise);
    const js = Float32Array.from(outside.lat);
    JS_STEP_KERNELS.skipResidualNoised(js, { up: outside.up, noise: outside.noise, sigma: 3.5 }, 0.3);
    k.skipResidualNoised(outside.lat, { up: outside.up, noise: outside.noise, sigma: 3.5 }, 0.3);
    k.skipResidualNoised(buf.lat, { up: buf.up, noise: buf.noise, sigma: 3.5 }, 0.3);
    expect(bytes(outside.lat).equals(bytes(js))).toBe(true);
    expect(bytes(buf.lat).equals(bytes(js))).toBe(true);
  });
});
