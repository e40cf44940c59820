import { describe, expect, it } from "vitest";
import { wasm } from "./wasmApi";
import { encodeModule, F32, flat, I32, op, sleb, uleb } from "./wasmEncoding";

describe("wasmEncoding", () => {
  it("encodes LEB128 like the specification's examples", () => {
    expect(uleb(0)).toEqual([0]);
    expect(uleb(624485)).toEqual([0xe5, 0x8e, 0x26]);
    expect(uleb(0xffffffff)).toEqual([0xff, 0xff, 0xff, 0xff, 0x0f]);
    expect(sleb(-123456)).toEqual([0xc0, 0xbb, 0x78]);
    expect(sleb(-4)).toEqual([0x7c]);
    expect(sleb(64)).toEqual([0xc0, 0x00]);
    expect(flat([1, [2, [3]], 4])).toEqual([1, 2, 3, 4]);
  });

  it("builds a module that validates and runs (f32 store of a + b)", () => {
    const bytes = encodeModule([
      {
        name: "add",
        params: [I32, F32, F32],
        locals: [],
        body: [op.get(0), op.get(1), op.get(2), op.f32Add, op.f32Store],
      },
    ]);
    const memory = new wasm!.Memory({ initial: 1 });
    const instance = new wasm!.Instance(new wasm!.Module(bytes), { env: { memory } });
    (instance.exports.add as (at: number, a: number, b: number) => void)(8, 1.5, Math.fround(0.1));
    expect(new Float32Array(memory.buffer, 8, 1)[0]).toBe(Math.fround(1.5 + Math.fround(0.1)));
  });
});
