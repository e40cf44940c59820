/**
 * The toy VAE: a fixed linear map between latent pixels and 8x8 blocks of RGB.
 * Decoder: RGB = M (s z) + bias per latent pixel (s = VAE_SCALING_FACTOR, z unscaled), nearest
 * 8x upsampling, clipped to [-1, 1]. Encoder: 8x8 mean, minus bias, times pinv(M) / s. So
 * encode(decode(z)) is z projected on the colours M can show (exact for the world's latents).
 */
import { Graph } from "./onnx/graph";
import { LATENT_CHANNELS, VAE_BIAS, VAE_MATRIX, VAE_SCALE_FACTOR, VAE_SCALING_FACTOR, vaePseudoInverse } from "./world";

export function buildVaeDecoder(): Uint8Array {
  const g = new Graph("toyworld_vae_decoder");
  const z = g.input("latent_sample", "float", ["batch", LATENT_CHANNELS, "h", "w"]);
  const weights = g.f32(
    VAE_MATRIX.flatMap((row) => row.map((v) => v * VAE_SCALING_FACTOR)),
    [3, LATENT_CHANNELS, 1, 1],
    "decode_w",
  );
  const rgb = g.op("Conv", [z, weights, g.f32(VAE_BIAS, [3], "decode_b")]);
  g.output("sample", g.clip(g.upsampleNearest(rgb, VAE_SCALE_FACTOR), -1, 1), "float", ["batch", 3, "H", "W"]);
  return g.encode("Toy world VAE decoder: per-latent-pixel 3x4 colour matrix, nearest 8x upsampling.");
}

export function buildVaeEncoder(): Uint8Array {
  const g = new Graph("toyworld_vae_encoder");
  const img = g.input("sample", "float", ["batch", 3, "H", "W"]);
  const pinv = vaePseudoInverse();
  const weights = g.f32(
    pinv.flatMap((row) => row.map((v) => v / VAE_SCALING_FACTOR)),
    [LATENT_CHANNELS, 3, 1, 1],
    "encode_w",
  );
  // pinv (mean - bias) = pinv mean - pinv bias: fold the bias into the convolution's.
  const bias = pinv.map((row) => -row.reduce((s, v, j) => s + v * VAE_BIAS[j], 0) / VAE_SCALING_FACTOR);
  const z = g.op("Conv", [g.avgPool(img, VAE_SCALE_FACTOR), weights, g.f32(bias, [LATENT_CHANNELS], "encode_b")]);
  g.output("latent_sample", z, "float", ["batch", LATENT_CHANNELS, "h", "w"]);
  return g.encode("Toy world VAE encoder: 8x8 mean, then the pseudo-inverse of the decoder's colour matrix.");
}
