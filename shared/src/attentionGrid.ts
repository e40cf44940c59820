/**
 * The UNet's cross-attention grid for a latent size: pure arithmetic of the bundle's geometry, shared by the runner
 * (bundle contract, backend shape check, toy world, pipeline aggregation) and the API's size rule for referenceCompat
 * (referenceLimits.ts), so both read one formula.
 */

/** What a bundle declares about its attention maps (gpu-runner BundleInfo has both fields). */
export interface AttentionGeometry {
  /** Cross-attention maps have (H / divisor) x (W / divisor) pixels at a multiple size; 32 for SDXL. */
  attentionDivisor: number;
  /** Pixels per latent pixel (8). */
  vaeScaleFactor: number;
}

/**
 * The UNet's grid at attention resolution for an h x w latent: ceil(h / a) x ceil(w / a), a = attentionDivisor /
 * vaeScaleFactor (SDXL: 4). SDXL's down-samplers are 3x3 stride-2 convolutions with padding 1, which map a side n to
 * ceil(n / 2); two of them give ceil(ceil(n / 2) / 2) = ceil(n / 4). diffusers' UNet2DConditionModel takes every
 * latent size (its up-samplers are handed the skip connection's size) and its attention maps are this grid at every
 * size (measured on ../shared/real-arch: latent 42x64 -> 11x16, 25x25 -> 7x7, 1x1 -> 1x1).
 */
export function attentionGrid(
  info: AttentionGeometry,
  latentH: number,
  latentW: number,
): { mapH: number; mapW: number } {
  const a = info.attentionDivisor / info.vaeScaleFactor;
  return { mapH: Math.ceil(latentH / a), mapW: Math.ceil(latentW / a) };
}
