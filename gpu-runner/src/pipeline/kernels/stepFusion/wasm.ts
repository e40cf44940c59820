/**
 * The two whole-latent passes of a step in WebAssembly: each kernel is the float32 arithmetic of the JS form (js.ts),
 * op for op and in the same order, so results are bit-identical (see multiDiffusion/wasm.ts for the float32 rules):
 *
 *   skipResidual  skipResidualNoised             x = x*keep + (up + noise*s)*mix
 *   blend         fuseBranches, both branches    out = ((value / count)*wl + global*wg) / total
 *   average       fuseBranches, local only       out = value / count
 *
 * Positions whose count is 0 come out as 0/0 or x/0 here: fuseBranches finishes them in JS.
 */
import { at, type Lanes, S, splats, V } from "../wasm/lanes";
import type { PhaseMemory } from "../wasm/phaseMemory";
import { type Code, F32, I32, type KernelFunction, op, rowEnds, rowLoop, rowsLoop, V128 } from "../wasm/wasmEncoding";
import type { CoveredInput, NoisedUpsample } from "./js";

const f = Math.fround;

function skipResidual(): KernelFunction {
  // Params: lat, up, noise, n (elements) (i32); keep, mix, s (f32).
  const [LAT, UP, NZ, N, KEEP, MIX, SG] = [0, 1, 2, 3, 4, 5, 6];
  const [C, END4, END, KV, MV, SV] = [7, 8, 9, 10, 11, 12];
  const lanes = (o: Lanes, keep: number, mix: number, s: number): Code[] => [
    ...at(LAT, C), // store address
    ...at(LAT, C),
    o.load,
    op.get(keep),
    o.mul, // x*keep
    ...at(UP, C),
    o.load,
    ...at(NZ, C),
    o.load,
    op.get(s),
    o.mul,
    o.add, // up + noise*s
    op.get(mix),
    o.mul,
    o.add,
    o.store,
  ];
  return {
    name: "skipResidual",
    params: [I32, I32, I32, I32, F32, F32, F32],
    locals: [I32, I32, I32, V128, V128, V128],
    body: [
      ...splats([
        [KEEP, KV],
        [MIX, MV],
        [SG, SV],
      ]),
      ...rowEnds(N, END4, END),
      ...rowLoop(C, END4, END, lanes(V, KV, MV, SV), lanes(S, KEEP, MIX, SG)),
    ],
  };
}

function blend(): KernelFunction {
  // Params: out, value, count, global, planes, plane (elements), planeBytes (i32); wl, wg, total (f32).
  const [OUT, VAL, CNT, GLB, PLANES, PLANE, PB, WL, WG, TOT] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const [P, C, END4, END, WLV, WGV, TV] = [10, 11, 12, 13, 14, 15, 16];
  const lanes = (o: Lanes, wl: number, wg: number, t: number): Code[] => [
    ...at(OUT, C),
    ...at(VAL, C),
    o.load,
    op.get(CNT),
    op.get(C),
    op.i32Add,
    o.load,
    o.div, // value / count
    op.get(wl),
    o.mul,
    ...at(GLB, C),
    o.load,
    op.get(wg),
    o.mul,
    o.add,
    op.get(t),
    o.div,
    o.store,
  ];
  return {
    name: "blend",
    params: [I32, I32, I32, I32, I32, I32, I32, F32, F32, F32],
    locals: [I32, I32, I32, I32, V128, V128, V128],
    body: [
      ...splats([
        [WL, WLV],
        [WG, WGV],
        [TOT, TV],
      ]),
      ...rowEnds(PLANE, END4, END),
      // Planes are "rows" here; the count plane is the same for all of them (its address does not advance).
      ...rowsLoop(P, PLANES, rowLoop(C, END4, END, lanes(V, WLV, WGV, TV), lanes(S, WL, WG, TOT)), [
        [OUT, PB],
        [VAL, PB],
        [GLB, PB],
      ]),
    ],
  };
}

function average(): KernelFunction {
  // Params: out, value, count, planes, plane, planeBytes (i32).
  const [OUT, VAL, CNT, PLANES, PLANE, PB] = [0, 1, 2, 3, 4, 5];
  const [P, C, END4, END] = [6, 7, 8, 9];
  const lanes = (o: Lanes): Code[] => [...at(OUT, C), ...at(VAL, C), o.load, ...at(CNT, C), o.load, o.div, o.store];
  return {
    name: "average",
    params: [I32, I32, I32, I32, I32, I32],
    locals: [I32, I32, I32, I32],
    body: [
      ...rowEnds(PLANE, END4, END),
      ...rowsLoop(P, PLANES, rowLoop(C, END4, END, lanes(V), lanes(S)), [
        [OUT, PB],
        [VAL, PB],
      ]),
    ],
  };
}

export const STEP_FUSION_WASM: KernelFunction[] = [skipResidual(), blend(), average()];

/** The exported functions, with addresses in bytes. */
export interface StepFusionWasmExports {
  skipResidual(lat: number, up: number, noise: number, n: number, keep: number, mix: number, s: number): void;
  blend(
    out: number,
    value: number,
    count: number,
    global: number,
    planes: number,
    plane: number,
    planeBytes: number,
    wl: number,
    wg: number,
    total: number,
  ): void;
  average(out: number, value: number, count: number, planes: number, plane: number, planeBytes: number): void;
}

/**
 * js.ts `skipResidualNoised` in WebAssembly, or false when the arrays are not views of `mem`. Same values
 * (stepFusion.test.ts, "in WebAssembly").
 */
export function skipResidualNoisedWasm(
  k: StepFusionWasmExports,
  mem: PhaseMemory,
  latents: Float32Array,
  target: NoisedUpsample,
  c1: number,
): boolean {
  const { up, noise } = target;
  const n = latents.length;
  if (up.length !== n || noise.length !== n) throw new RangeError("skipResidualNoised: lengths differ");
  if (!mem.holds(latents, up, noise)) return false;
  k.skipResidual(latents.byteOffset, up.byteOffset, noise.byteOffset, n, f(1 - c1), f(c1), f(target.sigma));
  return true;
}

/**
 * js.ts `coveredJs` in WebAssembly (the count==0 tally in JS), or null when the arrays are not views of `mem` or the
 * blend's total is 0 (the JS form then skips the division). Same values (stepFusion.test.ts, "in WebAssembly").
 */
export function coveredWasm(k: StepFusionWasmExports, mem: PhaseMemory, input: CoveredInput): number | null {
  const { value, count, global, weights: w, planes, plane, out } = input;
  if (!mem.holds(out, value, count) || (global && !mem.holds(global))) return null;
  if (global && !(w.total > 0)) return null;
  if (global) {
    const bytes = 4 * plane;
    k.blend(
      out.byteOffset,
      value.byteOffset,
      count.byteOffset,
      global.byteOffset,
      planes,
      plane,
      bytes,
      w.local,
      w.global,
      w.total,
    );
  } else {
    k.average(out.byteOffset, value.byteOffset, count.byteOffset, planes, plane, 4 * plane);
  }
  let uncovered = 0;
  for (let i = 0; i < plane; i++) if (count[i] === 0) uncovered++;
  return uncovered;
}
