import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Tensor } from "../models/types";
import {
  AttentionAccumulator,
  aggregateAttentionStore,
  maskIterations,
  tokenMaskStages,
  tokenMasks,
  torchSumF32,
} from "./attention";
import { dilate3x3, erode3x3 } from "./tensor/morphology";

function tensor(shape: number[], fill: (i: number) => number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return { data: Float32Array.from({ length: n }, (_, i) => fill(i)), shape };
}

describe("aggregateAttentionStore", () => {
  it("divides by cur_step, keeps matching resolutions and locations, and averages over all rows", () => {
    // 64x32 image -> 2x1 map (2 pixels), T = 3, 1 prompt.
    const a = tensor([2, 2, 3], (i) => i); // 2 heads
    const b = tensor([1, 2, 3], () => 100); // 1 head
    const wrongRes = tensor([1, 8, 3], () => 1e6);
    const mid = tensor([1, 2, 3], () => -1e6);
    const store = {
      curStep: 2,
      layers: { down_cross: [a, wrongRes], up_cross: [b], mid_cross: [mid], up_self: [b] },
    };
    const m = aggregateAttentionStore(store, 1, 64, 32, ["up", "down"], true, 0);
    // Rows: a head 0, a head 1, b: (x/2 + y/2 + 50) / 3 per element.
    const expected = Array.from({ length: 6 }, (_, i) => Math.fround((i / 2 + (i + 6) / 2 + 50) / 3));
    expect(Array.from(m.data)).toEqual(expected);
    // The reference's (map_w, map_h) reading: 1 row of 2 columns for a 2-high, 1-wide map.
    expect([m.rows, m.cols, m.tokens]).toEqual([1, 2, 3]);
    const correct = aggregateAttentionStore(store, 1, 64, 32, ["up", "down"], true, 0, false);
    expect([correct.rows, correct.cols]).toEqual([2, 1]);
    expect(correct.data).toEqual(m.data);
  });

  it("selects the prompt's block of heads", () => {
    // 2 prompts x 2 heads: rows 0-1 belong to prompt 0, rows 2-3 to prompt 1.
    const item = tensor([4, 1, 1], (i) => [1, 3, 10, 30][i]);
    const store = { curStep: 1, layers: { up_cross: [item] } };
    expect(aggregateAttentionStore(store, 2, 32, 32, ["up"], true, 0).data[0]).toBe(2);
    expect(aggregateAttentionStore(store, 2, 32, 32, ["up"], true, 1).data[0]).toBe(20);
  });

  it("fails when no layer has the attention resolution", () => {
    const store = { curStep: 1, layers: { up_cross: [tensor([1, 4, 2], () => 0)] } };
    expect(() => aggregateAttentionStore(store, 1, 32, 32, ["up"], true, 0)).toThrow(RangeError);
  });
});

describe("AttentionAccumulator", () => {
  it("averages the selected row over the steps", () => {
    const acc = new AttentionAccumulator(2, 3, 2);
    acc.add(
      tensor([2, 6, 2], (i) => i),
      1,
    );
    acc.add(
      tensor([2, 6, 2], (i) => 2 * i),
      1,
    );
    const r = acc.result();
    expect(acc.steps).toBe(2);
    expect([r.rows, r.cols, r.tokens]).toEqual([2, 3, 2]);
    expect(Array.from(r.data)).toEqual(Array.from({ length: 12 }, (_, i) => Math.fround((3 * (12 + i)) / 2)));
  });

  it("reads the map as (mapW, mapH) with swappedReshape (the reference), without moving data", () => {
    const acc = new AttentionAccumulator(2, 4, 1, { swappedReshape: true });
    acc.add(tensor([1, 8, 1], (i) => i));
    const r = acc.result();
    expect([r.rows, r.cols]).toEqual([4, 2]);
    expect(Array.from(r.data)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it("agrees with aggregateAttentionStore on a single-layer, single-head store", () => {
    const steps = [tensor([1, 4, 3], (i) => i * 0.1), tensor([1, 4, 3], (i) => 1 - i * 0.05)];
    const acc = new AttentionAccumulator(2, 2, 3, { swappedReshape: true });
    for (const s of steps) acc.add(s);
    const summed = tensor([1, 4, 3], (i) => Math.fround(steps[0].data[i] + steps[1].data[i]));
    const ref = aggregateAttentionStore({ curStep: 2, layers: { down_cross: [summed] } }, 1, 64, 64, ["down"], true, 0);
    expect(acc.result().data).toEqual(ref.data);
  });

  it("rejects maps of the wrong size and results before any step", () => {
    const acc = new AttentionAccumulator(2, 2, 3);
    expect(() => acc.result()).toThrow(RangeError);
    expect(() => acc.add(tensor([1, 5, 3], () => 0))).toThrow(RangeError);
  });
});

describe("torchSumF32", () => {
  it("equals the float64 sum on exactly representable values (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -1000, max: 1000 }), { maxLength: 3000 }), (vals) => {
        const data = Float32Array.from(vals);
        expect(torchSumF32(data, 0, 1, data.length)).toBe(vals.reduce((a, b) => a + b, 0));
      }),
    );
  });

  it("reads strided values from an offset", () => {
    const data = Float32Array.from([1, 100, 2, 100, 3, 100]);
    expect(torchSumF32(data, 0, 2, 3)).toBe(6);
    expect(torchSumF32(data, 1, 2, 3)).toBe(300);
  });

  it("stays within a few ulps of the exact sum (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.float({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 5000 }), (vals) => {
        const data = Float32Array.from(vals);
        let exact = 0;
        for (const v of data) exact += v;
        expect(Math.abs(torchSumF32(data, 0, 1, data.length) - exact)).toBeLessThanOrEqual(exact * 1e-6 + 1e-30);
      }),
    );
  });
});

describe("tokenMasks", () => {
  it("thresholds strictly above the mean, then erodes and dilates rows//16 times", () => {
    const rows = 32;
    const cols = 32;
    const T = 2;
    const map = new Float32Array(rows * cols * T);
    // Token 0: a 10x10 block of high attention plus a lone hot pixel; token 1: constant.
    for (let y = 0; y < rows; y++)
      for (let x = 0; x < cols; x++) {
        const inBlock = y >= 4 && y < 14 && x >= 8 && x < 18;
        map[(y * cols + x) * T] = inBlock || (y === 25 && x === 25) ? 1 : 0;
        map[(y * cols + x) * T + 1] = 0.5;
      }
    const stages = tokenMaskStages(map, rows, cols, T, 0);
    expect(stages.threshold[25 * cols + 25]).toBe(255);
    expect(maskIterations(rows)).toBe(2);
    // The opening removes the lone pixel and restores the block.
    const m = tokenMasks(map, rows, cols, T);
    for (let y = 0; y < rows; y++)
      for (let x = 0; x < cols; x++) {
        const inBlock = y >= 4 && y < 14 && x >= 8 && x < 18;
        expect(m[0][y * cols + x]).toBe(inBlock ? 255 : 0);
      }
    // Nothing is strictly above the mean of a constant map.
    expect(m[1].every((v) => v === 0)).toBe(true);
  });

  it("is erode then dilate of the > mean mask (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 0, max: 1 << 30 }),
        (rows, cols, seed) => {
          const map = Float32Array.from({ length: rows * cols }, (_, i) => ((i * 2654435761 + seed) % 1000) / 997);
          let sum = 0;
          for (const v of map) sum += v;
          const stages = tokenMaskStages(map, rows, cols, 1, 0);
          expect(Math.abs(stages.mean - sum / (rows * cols))).toBeLessThan(1e-5);
          const thr = Uint8Array.from(map, (v) => (v > stages.mean ? 255 : 0));
          expect(stages.threshold).toEqual(thr);
          const k = Math.floor(rows / 16);
          expect(stages.dilated).toEqual(dilate3x3(erode3x3(thr, rows, cols, k), rows, cols, k));
          expect(tokenMasks(map, rows, cols, 1)[0]).toEqual(stages.dilated);
        },
      ),
    );
  });
});
