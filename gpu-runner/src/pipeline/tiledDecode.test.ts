import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Tensor } from "../models/types";
import { blendH, blendV, planTiles, SDXL_VAE_TILING, tiledDecode, vaeTilingFor } from "./tiledDecode";

/** A decoder whose output depends only on the latent at each position: tiles agree on overlaps. */
async function localDecoder(t: Tensor): Promise<Tensor> {
  const [n, c, h, w] = t.shape;
  const up = 8;
  const out = new Float32Array(n * 3 * h * up * w * up);
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < 3; ch++) {
      for (let y = 0; y < h * up; y++) {
        for (let x = 0; x < w * up; x++) {
          out[((b * 3 + ch) * h * up + y) * w * up + x] = Math.tanh(
            t.data[((b * c + ch) * h + (y >> 3)) * w + (x >> 3)],
          );
        }
      }
    }
  }
  return { data: out, shape: [n, 3, h * up, w * up] };
}

const latent = (h: number, w: number, seed = 0): Tensor => ({
  data: Float32Array.from({ length: 4 * h * w }, (_, i) => Math.fround(Math.sin(seed + i * 0.91))),
  shape: [1, 4, h, w],
});

describe("planTiles", () => {
  it("tiles an SDXL 4096 px latent (512) with 128-latent tiles every 96", () => {
    const p = planTiles(512, 512, SDXL_VAE_TILING);
    expect(p).toMatchObject({ tiled: true, overlapSize: 96, blendExtent: 256, rowLimit: 768, rows: 6, cols: 6 });
    expect(p.origins[7]).toEqual([96, 96]);
  });

  it("does not tile a latent that fits one tile", () => {
    expect(planTiles(128, 128, SDXL_VAE_TILING).tiled).toBe(false);
    expect(planTiles(128, 129, SDXL_VAE_TILING).tiled).toBe(true);
    expect(vaeTilingFor(512, 8)).toEqual({ tileSampleMinSize: 512, tileLatentMinSize: 64, tileOverlapFactor: 0.25 });
  });
});

describe("blendV / blendH", () => {
  it("ramp linearly from the neighbour's far edge into the tile", () => {
    const a: Tensor = { data: Float32Array.of(0, 0, 10, 10, 20, 20, 30, 30), shape: [1, 1, 4, 2] };
    const b: Tensor = { data: new Float32Array(8).fill(100), shape: [1, 1, 4, 2] };
    blendV(a, b, 2);
    // e = 2: row 0 = a[2], row 1 = a[3]*0.5 + b*0.5.
    expect(Array.from(b.data)).toEqual([20, 20, 65, 65, 100, 100, 100, 100]);
    const l: Tensor = { data: Float32Array.of(1, 2, 3, 4), shape: [1, 1, 1, 4] };
    const r: Tensor = { data: Float32Array.of(9, 9, 9, 9), shape: [1, 1, 1, 4] };
    blendH(l, r, 8); // e = min(4, 4, 8) = 4
    expect(Array.from(r.data)).toEqual([1, 0.75 * 2 + 0.25 * 9, 0.5 * 3 + 0.5 * 9, 0.25 * 4 + 0.75 * 9]);
  });
});

describe("blendH", () => {
  it("equals the reference's column loop bit for bit", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 12 }),
        (planes, h, aw, bw, extent) => {
          const a: Tensor = {
            data: Float32Array.from({ length: planes * h * aw }, (_, i) => Math.sin(i * 1.3) * 3),
            shape: [1, planes, h, aw],
          };
          const bData = Float32Array.from({ length: planes * h * bw }, (_, i) => Math.cos(i * 0.7) * 2);
          const got: Tensor = { data: Float32Array.from(bData), shape: [1, planes, h, bw] };
          blendH(a, got, extent);
          const want = Float32Array.from(bData);
          const e = Math.min(aw, bw, extent);
          for (let x = 0; x < e; x++) {
            const wa = Math.fround(1 - x / e);
            const wb = Math.fround(x / e);
            for (let p = 0; p < planes; p++) {
              for (let y = 0; y < h; y++) {
                const bi = (p * h + y) * bw + x;
                want[bi] = Math.fround(a.data[(p * h + y) * aw + aw - e + x] * wa) + Math.fround(want[bi] * wb);
              }
            }
          }
          expect(Array.from(got.data)).toEqual(Array.from(want));
        },
      ),
    );
  });
});

describe("tiledDecode", () => {
  it("decodes whole when the latent fits one tile", async () => {
    const z = latent(4, 4);
    const calls: number[][] = [];
    const out = await tiledDecode(
      z,
      (t) => {
        calls.push([...t.shape]);
        return localDecoder(t);
      },
      { tileSampleMinSize: 32, tileLatentMinSize: 4, tileOverlapFactor: 0.25 },
    );
    expect(calls).toEqual([[1, 4, 4, 4]]);
    expect(out.shape).toEqual([1, 3, 32, 32]);
  });

  it("equals the untiled decode for a decoder that agrees on overlaps", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 14 }),
        fc.integer({ min: 1, max: 14 }),
        fc.constantFrom(4, 8),
        async (h, w, T) => {
          const z = latent(h, w, h * 31 + w);
          const cfg = { tileSampleMinSize: 8 * T, tileLatentMinSize: T, tileOverlapFactor: 0.25 };
          const tiled = await tiledDecode(z, localDecoder, cfg);
          const whole = await localDecoder(z);
          expect(tiled.shape).toEqual(whole.shape);
          for (let i = 0; i < whole.data.length; i++)
            expect(Math.abs(tiled.data[i] - whole.data[i])).toBeLessThan(1e-6);
        },
      ),
      { numRuns: 40 },
    );
  });

  it("feeds clipped edge tiles in row-major order and rejects a decoder of the wrong size", async () => {
    const cfg = { tileSampleMinSize: 32, tileLatentMinSize: 4, tileOverlapFactor: 0.25 };
    const seen: number[][] = [];
    await tiledDecode(
      latent(5, 7),
      (t) => {
        seen.push([t.shape[2], t.shape[3]]);
        return localDecoder(t);
      },
      cfg,
    );
    expect(seen).toEqual([
      [4, 4],
      [4, 4],
      [4, 1],
      [2, 4],
      [2, 4],
      [2, 1],
    ]);
    let first = true;
    const bad = async (t: Tensor): Promise<Tensor> => {
      const d = await localDecoder(t);
      if (first) {
        first = false;
        return d;
      }
      return { data: d.data.subarray(0, 3), shape: [1, 3, 1, 1] };
    };
    await expect(tiledDecode(latent(5, 7), bad, cfg)).rejects.toThrow(RangeError);
  });

  it("does not depend on the decoder returning fresh buffers", async () => {
    const cfg = { tileSampleMinSize: 32, tileLatentMinSize: 4, tileOverlapFactor: 0.25 };
    const shared = new Float32Array(3 * 32 * 32);
    const reusing = async (t: Tensor): Promise<Tensor> => {
      const d = await localDecoder(t);
      const view = shared.subarray(0, d.data.length);
      view.set(d.data);
      return { data: view, shape: d.shape };
    };
    const a = await tiledDecode(latent(9, 10), reusing, cfg);
    const b = await tiledDecode(latent(9, 10), localDecoder, cfg);
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
  });
});
