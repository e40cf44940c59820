/**
 * AccDiffusion's cosine decay (inherited from DemoFusion): how strongly each upscaling step leans on
 * the skip residual (c1), on dilated sampling vs MultiDiffusion (c2 vs 1 - c2), and how wide the
 * Gaussian filter on the dilated input is (c3). All factors are float32 because the reference derives
 * them from the float32 timestep tensor.
 */

const f32 = Math.fround;
const PI_F32 = Math.fround(Math.PI);
const C3_SLOPE = Math.fround(0.99);
const C3_FLOOR = Math.fround(0.01);

export interface CosineFactors {
  /** 0.5 * (1 + cos(pi * (T - t) / T)): 1 at t = T, falling to ~0 at t = 0. */
  cf: number;
  /** cf^cosineScale1: weight of the skip residual (the upsampled previous phase, noised to t). */
  c1: number;
  /** cf^cosineScale2: weight of the dilated-sampling (global) branch; MultiDiffusion gets 1 - c2. */
  c2: number;
  /** 0.99 * cf^cosineScale3 + 0.01: multiplier of the Gaussian filter's sigma. */
  c3: number;
}

/**
 * torch's float32 `x ** e` for a Python scalar exponent: the special cases are exact products or sqrt
 * (what the CPU kernel does), everything else is powf.
 */
export function powF32(x: number, e: number): number {
  if (e === 0) return 1;
  if (e === 1) return f32(x);
  if (e === 2) return f32(x * x);
  if (e === 3) return f32(f32(x * x) * x);
  if (e === 0.5) return f32(Math.sqrt(x));
  return f32(x ** f32(e));
}

/** The cosine factors of timestep t, evaluated op by op in float32 like the reference. */
export function cosineFactors(
  t: number,
  cosineScale1: number,
  cosineScale2: number,
  cosineScale3: number,
  numTrainTimesteps = 1000,
): CosineFactors {
  const angle = f32(f32(PI_F32 * f32(numTrainTimesteps - f32(t))) / numTrainTimesteps);
  const cf = f32(0.5 * f32(1 + f32(Math.cos(angle))));
  return {
    cf,
    c1: powF32(cf, cosineScale1),
    c2: powF32(cf, cosineScale2),
    c3: f32(f32(C3_SLOPE * powF32(cf, cosineScale3)) + C3_FLOOR),
  };
}
