/**
 * The skip residual and the blend of the two branches, op by op like the reference (steps 1. and 3. of
 * ../multiDiffusion/reference.ts); js.ts fuses them with the noised upsample, wasm.ts runs that in WebAssembly.
 */
import { branchWeights } from "./weights";

const f = Math.fround;

/** `latents*(1-c1) + noiseLatent*c1` elementwise in float32. `out` may alias either input. */
export function skipResidual(
  latents: Float32Array,
  noiseLatent: Float32Array,
  c1: number,
  out?: Float32Array,
): Float32Array {
  const n = latents.length;
  if (noiseLatent.length !== n) throw new RangeError("skipResidual: latents and noise differ in length");
  const dst = out ?? new Float32Array(n);
  const keep = f(1 - c1);
  const mix = f(c1);
  for (let i = 0; i < n; i++) dst[i] = f(latents[i] * keep) + f(noiseLatent[i] * mix);
  return dst;
}

/**
 * The step's output latent from the two branches:
 * both:        `value = (vl/cl)*(1-c2) + vg*c2`, `count = (1-c2) + c2`;
 * local only:  `value = vl/cl`, `count = 1`;  global only: `value = vg`, `count = 1`;
 * result `where(count > 0, value/count, value)`. `local.count` is one [H, W] plane shared by the
 * `planes` planes of `local.value`. `out` may alias any input.
 */
export function blendBranches(
  local: { value: Float32Array; count: Float32Array } | null,
  global: Float32Array | null,
  c2: number,
  planes: number,
  plane: number,
  out: Float32Array,
): Float32Array {
  const n = planes * plane;
  if (out.length < n) throw new RangeError("blendBranches: out is too short");
  if (!local && !global) throw new RangeError("blendBranches: at least one branch is required");
  if (local && !global) {
    for (let p = 0; p < planes; p++) {
      for (let i = 0; i < plane; i++) out[p * plane + i] = f(local.value[p * plane + i] / local.count[i]);
    }
    return out;
  }
  if (!local && global) {
    if (out !== global) out.set(global.subarray(0, n));
    return out;
  }
  const vl = local!.value;
  const cl = local!.count;
  const vg = global!;
  const w = branchWeights(c2);
  const total = w.total;
  for (let p = 0; p < planes; p++) {
    for (let i = 0; i < plane; i++) {
      const k = p * plane + i;
      const value = f(f(f(vl[k] / cl[i]) * w.local) + f(vg[k] * w.global));
      out[k] = total > 0 ? f(value / total) : value;
    }
  }
  return out;
}
