import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { attr, Graph } from "./graph";

const run = async (g: Graph, feeds: Record<string, ort.Tensor>) => {
  const session = await ort.InferenceSession.create(g.encode());
  return { session, out: await session.run(feeds) };
};

describe("Graph builder", () => {
  it("writes a model onnxruntime loads, with symbolic dims and the declared names", async () => {
    const g = new Graph("t");
    const x = g.input("x", "float", ["B", 3]);
    const w = g.f32([1, 2, 3, 4, 5, 6], [3, 2]);
    g.output("y", g.softmax(g.shift(g.matmul(x, w), 1), -1), "float", ["B", 2]);
    const { session, out } = await run(g, { x: new ort.Tensor("float32", Float32Array.of(1, 0, -1, 0, 1, 0), [2, 3]) });
    expect(session.inputNames).toEqual(["x"]);
    expect(session.outputNames).toEqual(["y"]);
    // Row 1: x W = [1 - 5, 2 - 6] = [-4, -4] -> [0.5, 0.5]; row 2: [3, 4] -> softmax.
    const y = out.y.data as Float32Array;
    expect(y[0]).toBeCloseTo(0.5, 6);
    expect(y[3]).toBeCloseTo(1 / (1 + Math.exp(-1)), 6);
  });

  it("handles int64 constants, negative axes, int32 inputs and Range over a dynamic size", async () => {
    const g = new Graph("t");
    const ids = g.input("ids", "int32", ["B", 4]);
    g.output("am", g.op("ArgMax", [ids], { axis: attr.int(-1), keepdims: attr.int(0) }), "int64", ["B"]);
    const n = g.cast(g.gather(g.shape(ids), g.i64([1], []), 0), "float");
    g.output("r", g.rangeTo(n), "float", ["N"]);
    g.output("s", g.reduceSum(g.cast(ids, "float"), [-1], false), "float", ["B"]);
    const { out } = await run(g, { ids: new ort.Tensor("int32", Int32Array.of(1, 5, 2, 5, 9, 0, 0, 0), [2, 4]) });
    expect(Array.from(out.am.data as BigInt64Array)).toEqual([1n, 0n]);
    expect(Array.from(out.r.data as Float32Array)).toEqual([0, 1, 2, 3]);
    expect(Array.from(out.s.data as Float32Array)).toEqual([13, 9]);
  });

  it("produces identical bytes for identical graphs (the bundle hash depends on it)", () => {
    const build = () => {
      const g = new Graph("t");
      const x = g.input("x", "float", [1]);
      g.output("y", g.scale(x, 3), "float", [1]);
      return g.encode();
    };
    expect(build()).toEqual(build());
  });
});
