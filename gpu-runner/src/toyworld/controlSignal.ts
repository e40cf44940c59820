/**
 * The ControlNet's message to the UNet. The ControlNet measures edge density (how much of each
 * latent pixel's 8x8 block the canny map marks) and writes it into every residual at that
 * residual's resolution, spread over its channels along a fixed unit pattern; the UNet reads each
 * residual back along the same pattern and sums them into one edge map (README.md, "ControlNet").
 */
import type { Graph } from "./onnx/graph";
import { RESIDUAL_CHANNELS, RESIDUAL_FACTORS, RESIDUAL_WEIGHTS, seededRandom, VAE_SCALE_FACTOR } from "./world";

/** Unit-norm channel pattern of residual k (0..8 down, 9 mid). */
export function residualPattern(k: number): Float32Array {
  const rand = seededRandom(300 + k);
  const c = RESIDUAL_CHANNELS[k];
  const p = Float32Array.from({ length: c }, () => (rand() < 0.5 ? -1 : 1) * (0.5 + rand()));
  const norm = Math.hypot(...p);
  for (let i = 0; i < c; i++) p[i] /= norm;
  return p;
}

/**
 * Canny condition [B, 3, 8h, 8w] in [0, 1] -> the 10 residuals (down 0..8, mid), each
 * edge density at its resolution times its pattern times `scale` ([1]).
 */
export function edgeResiduals(g: Graph, cond: string, scale: string): string[] {
  // Fraction of an 8x8 block on an edge, x 8: a 1-pixel line across a block gives 1.
  const density = g.scale(g.avgPool(g.reduceMean(cond, [1]), VAE_SCALE_FACTOR), VAE_SCALE_FACTOR);
  return RESIDUAL_CHANNELS.map((c, k) => {
    const f = RESIDUAL_FACTORS[k];
    const atRes =
      f === 1
        ? density
        : g.op("AveragePool", [density], {
            kernel_shape: { kind: "ints", value: [f, f] },
            strides: { kind: "ints", value: [f, f] },
            ceil_mode: { kind: "int", value: 1 },
          });
    const pattern = g.f32(residualPattern(k), [1, c, 1, 1], `pattern${k}`);
    return g.mul(g.mul(atRes, pattern), scale);
  });
}

/** The UNet side: residuals -> edge map [B, h, w] at the latent resolution of `sample`. */
export function readEdgeMap(g: Graph, residuals: readonly string[], sample: string): string {
  const latentHW = g.shape(sample, 2, 4);
  let sum = "";
  residuals.forEach((res, k) => {
    const pattern = g.f32(residualPattern(k), [1, RESIDUAL_CHANNELS[k], 1, 1], `pattern${k}`);
    let e = g.reduceSum(g.mul(res, pattern), [1]);
    if (RESIDUAL_FACTORS[k] !== 1) {
      const sizes = g.concat([g.shape(e, 0, 2), latentHW], 0);
      e = g.op("Resize", [e, "", "", sizes], {
        mode: { kind: "string", value: "nearest" },
        coordinate_transformation_mode: { kind: "string", value: "asymmetric" },
        nearest_mode: { kind: "string", value: "floor" },
      });
    }
    const weighted = g.scale(e, RESIDUAL_WEIGHTS[k]);
    sum = sum === "" ? weighted : g.add(sum, weighted);
  });
  return g.squeeze(sum, [1]);
}
