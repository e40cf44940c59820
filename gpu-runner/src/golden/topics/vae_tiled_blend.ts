import type { Tensor } from "../../models/types";
import { planTiles, tiledDecode } from "../../pipeline/tiledDecode";
import { expectClose, expectExact, Mismatch, readF32 } from "../compare";
import type { GoldenCase, TopicRunner } from "../types";

const f = Math.fround;

/**
 * The golden's fake decoder: tanh(nearest_upsample_x8(tile[:, 0:3]) + 0.5*mean(tile[:, 3])),
 * mean over all elements of latent channel 3 of this tile, float32 throughout.
 */
async function fakeDecoder(tile: Tensor): Promise<Tensor> {
  const [n, c, h, w] = tile.shape;
  if (c < 4) throw new Mismatch("fake decoder needs 4 latent channels");
  const up = 8;
  const out = new Float32Array(n * 3 * h * up * w * up);
  for (let b = 0; b < n; b++) {
    let s = 0;
    const ch3 = (b * c + 3) * h * w;
    for (let i = 0; i < h * w; i++) s += tile.data[ch3 + i];
    const shift = f(0.5 * f(s / (h * w)));
    for (let ch = 0; ch < 3; ch++) {
      for (let y = 0; y < h * up; y++) {
        for (let x = 0; x < w * up; x++) {
          const v = tile.data[((b * c + ch) * h + Math.floor(y / up)) * w + Math.floor(x / up)];
          out[((b * 3 + ch) * h * up + y) * w * up + x] = Math.tanh(f(v + shift));
        }
      }
    }
  }
  return { data: out, shape: [n, 3, h * up, w * up] };
}

/** vae_tiled_blend: diffusers 0.21.4 tiled decode with scaled-down tiles and a fake per-tile decoder. */
const run: TopicRunner = async (c: GoldenCase) => {
  const inp = c.inputs;
  const e = c.expected;
  if (inp.post_quant_conv !== "identity" || inp.use_tiling !== true) throw new Mismatch("unsupported case setup");
  const cfg = {
    tileSampleMinSize: Number(inp.tile_sample_min_size),
    tileLatentMinSize: Number(inp.tile_latent_min_size),
    tileOverlapFactor: Number(inp.tile_overlap_factor),
  };
  const shape = (inp.z.shape as number[]).map(Number);
  const plan = planTiles(shape[2], shape[3], cfg);
  expectExact("tiled", plan.tiled, e.tiled);
  expectExact("overlap_size", plan.overlapSize, Number(e.overlap_size));
  expectExact("blend_extent", plan.blendExtent, Number(e.blend_extent));
  expectExact("row_limit", plan.rowLimit, Number(e.row_limit));
  expectExact("tile_origins", plan.origins, e.tile_origins);

  const fed: number[][] = [];
  const sample = await tiledDecode(
    { data: readF32(inp.z), shape },
    (t) => {
      fed.push([...t.shape]);
      return fakeDecoder(t);
    },
    cfg,
  );
  expectExact("decoded_tile_shapes", fed, e.decoded_tile_shapes);
  expectClose("sample", sample.data, e.sample, c.tolerance, sample.shape);
};

export default run;
