/**
 * Float32 division without a division per element.
 *
 * Dividing is the slowest scalar float op (latency ~13 cycles, one every ~5 cycles), and the hot loops divide by
 * the same divisor a million times (scale_model_input, the Euler step's `/ sigma`, the renormalisations). For float32
 * x and d, rounding x * (1/d) computed in float64 gives exactly float32(x / d):
 *
 *   - the float64 product is within 2^-52 (relative) of the true quotient x/d (one rounding for 1/d, one for x*r);
 *   - x/d is never closer than 2^-49 (relative) to a float32 rounding boundary. Write x = X*2^a, d = D*2^b (integer
 *     significands below 2^24) and a boundary m = k*2^e (k odd, 2^24 <= k < 2^25). Near m, X*2^a ~ k*D*2^(e+b) with
 *     X < 2^24 <= k*D forces a > e+b, so x - m*d is an integer multiple of 2^(e+b); it is not 0 (k*D would have to
 *     fit in X's 24 bits), hence |x/d - m| >= 2^e / D and |x/d - m| / m > 1 / (D * 2^25) > 2^-49. The subnormal
 *     range (fixed boundary spacing 2^-150) gives an even larger margin;
 *   - so the product and the quotient lie on the same side of every boundary and round to the same float32.
 *
 * Callers must round the product to float32 (Math.fround, or a Float32Array store), and both operands must be
 * float32 values. Tested on random and edge operands against `Math.fround(x / d)`.
 */

/** `1 / d` for use as `Math.fround(x * r)` === `Math.fround(x / d)` (x, d float32). */
export function float32Reciprocal(d: number): number {
  return 1 / d;
}
