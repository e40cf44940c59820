/**
 * The dilated branch's element loops in WebAssembly, one row of s x s cells (plane p, sample row y) per call, all
 * slots b and sample columns x (see js.ts for the method and the JS versions, which these equal bit for bit:
 * dilated.test.ts, "in WebAssembly"). Scalar float32 ops: the accesses are gathers within each cell, which SIMD cannot load in one go, but
 * native float32 arithmetic alone is several times faster than JS's float64 + Math.fround round trips.
 *
 *   dilatedInput  slot b, column x <- G at sample o = shuffle[b, x] (or b), renormalised, / divisor, in rows 2b, 2b+1
 *   dilatedStep   slot b, column x -> guidance, Euler step of L at sample o's position, written to the cropped output
 *
 * Addresses are byte offsets; `per4` is the byte length of one sample (planes * h * w floats); the shuffle index,
 * model input and noise rows of the call's first element are passed, later slots are `per4` (shuffle) or `2 * per4`
 * (model rows) further. Cell offsets come from a small int32 table in the memory.
 */
import type { GuidedStep } from "../multiDiffusion/js";
import type { PhaseMemory } from "../wasm/phaseMemory";
import { type Code, countLoop, F32, I32, type KernelFunction, op } from "../wasm/wasmEncoding";
import { checkGrid, type DilatedGrid, offsetBases, type Renormalization } from "./js";
import type { DilatedOffset } from "./reference";

const f = Math.fround;

/** o = useShuffle ? shuffle[b, x] : b (the shuffle row of slot b is b * per4 bytes further). */
function sample(useShuffle: number, shuffle: number, per4: number, b: number, x: number): Code[] {
  return [
    op.get(useShuffle),
    op.ifI32,
    op.get(shuffle),
    op.get(b),
    op.get(per4),
    op.i32Mul,
    op.i32Add,
    op.get(x),
    op.i32Const(2),
    op.i32Shl,
    op.i32Add,
    op.i32Load,
    op.else,
    op.get(b),
    op.end,
  ];
}

function dilatedInput(): KernelFunction {
  // i32: src (byte address of the cell row's first cell), out (model row 0 at the first element), per4, shuffle,
  // useShuffle, B, w, s, bases (int32 table: offset of sample o within a cell, in elements), useRenorm;
  // f32: mean, std, targetMean, targetStd, divisor.
  const [SRC, OUT, PER4, SH, USE_SH, B_, W_, S_, BASES, USE_RN, M, SD, TM, TS, D] = Array.from(
    { length: 15 },
    (_, i) => i,
  );
  const [B, X, V, DST] = [15, 16, 17, 18];
  const body: Code[] = [
    // v = g[src + x*s + base[o]]
    op.get(SRC),
    op.get(X),
    op.get(S_),
    op.i32Mul,
    op.get(BASES),
    ...sample(USE_SH, SH, PER4, B, X),
    op.i32Const(2),
    op.i32Shl,
    op.i32Add,
    op.i32Load,
    op.i32Add,
    op.i32Const(2),
    op.i32Shl,
    op.i32Add,
    op.f32Load,
    op.set(V),
    op.get(USE_RN),
    op.ifVoid,
    op.get(V),
    op.get(M),
    op.f32Sub,
    op.get(SD),
    op.f32Div,
    op.get(TS),
    op.f32Mul,
    op.get(TM),
    op.f32Add,
    op.set(V),
    op.end,
    op.get(V),
    op.get(D),
    op.f32Div,
    op.set(V),
    // rows 2b and 2b+1
    op.get(OUT),
    op.get(B),
    op.get(PER4),
    op.i32Mul,
    op.i32Const(1),
    op.i32Shl,
    op.i32Add,
    op.get(X),
    op.i32Const(2),
    op.i32Shl,
    op.i32Add,
    op.tee(DST),
    op.get(V),
    op.f32Store,
    op.get(DST),
    op.get(PER4),
    op.i32Add,
    op.get(V),
    op.f32Store,
  ];
  return {
    name: "dilatedInput",
    params: [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, F32, F32, F32, F32, F32],
    locals: [I32, I32, F32, I32],
    body: countLoop(B, B_, countLoop(X, W_, body)),
  };
}

function dilatedStep(): KernelFunction {
  // i32: noise (uncond row of slot 0 at the first element), per4, shuffle, useShuffle, B, w, cellRow (y*s), s,
  // offsets (int32 table [oh, ow] per sample), hPad, wPad, padded (plane p of L), PW, out (plane p of the cropped
  // output), W; f32: g, sigma, dt.
  const [NZ, PER4, SH, USE_SH, B_, W_, ROW, S_, OFFS, HPAD, WPAD, L, PW, OUT, W, G, SG, DT] = Array.from(
    { length: 18 },
    (_, i) => i,
  );
  const [B, X, O, PY, PX, EU, EPS, XV, NROW] = [18, 19, 20, 21, 22, 23, 24, 25, 26];
  const body: Code[] = [
    ...sample(USE_SH, SH, PER4, B, X),
    op.set(O),
    // py = y*s + oh[o], px = x*s + ow[o]; positions in the top/left padding are cropped away.
    op.get(ROW),
    op.get(OFFS),
    op.get(O),
    op.i32Const(3),
    op.i32Shl,
    op.i32Add,
    op.tee(PY), // (address of oh[o], kept for ow[o])
    op.i32Load,
    op.i32Add,
    op.get(X),
    op.get(S_),
    op.i32Mul,
    op.get(PY),
    op.i32Const(4),
    op.i32Add,
    op.i32Load,
    op.i32Add,
    op.set(PX),
    op.set(PY),
    op.get(PY),
    op.get(HPAD),
    op.i32LtS,
    op.brIf(0),
    op.get(PX),
    op.get(WPAD),
    op.i32LtS,
    op.brIf(0),
    // eps = eu + g*(et - eu) from model rows 2b, 2b+1
    op.get(NROW),
    op.get(X),
    op.i32Const(2),
    op.i32Shl,
    op.i32Add,
    op.f32Load,
    op.set(EU),
    op.get(EU),
    op.get(G),
    op.get(NROW),
    op.get(PER4),
    op.i32Add,
    op.get(X),
    op.i32Const(2),
    op.i32Shl,
    op.i32Add,
    op.f32Load,
    op.get(EU),
    op.f32Sub,
    op.f32Mul,
    op.f32Add,
    op.set(EPS),
    // x = L[py, px]
    op.get(L),
    op.get(PY),
    op.get(PW),
    op.i32Mul,
    op.get(PX),
    op.i32Add,
    op.i32Const(2),
    op.i32Shl,
    op.i32Add,
    op.f32Load,
    op.set(XV),
    // out[py - hPad, px - wPad] = 0 + (x + ((x - (x - sigma*eps)) / sigma) * dt)
    op.get(OUT),
    op.get(PY),
    op.get(HPAD),
    op.i32Sub,
    op.get(W),
    op.i32Mul,
    op.get(PX),
    op.i32Add,
    op.get(WPAD),
    op.i32Sub,
    op.i32Const(2),
    op.i32Shl,
    op.i32Add,
    op.f32Zero,
    op.get(XV),
    op.get(XV),
    op.get(XV),
    op.get(SG),
    op.get(EPS),
    op.f32Mul,
    op.f32Sub,
    op.f32Sub,
    op.get(SG),
    op.f32Div,
    op.get(DT),
    op.f32Mul,
    op.f32Add,
    op.f32Add,
    op.f32Store,
  ];
  const perSlot: Code[] = [
    // nrow = noise + 2*b*per4
    op.get(NZ),
    op.get(B),
    op.get(PER4),
    op.i32Mul,
    op.i32Const(1),
    op.i32Shl,
    op.i32Add,
    op.set(NROW),
    ...countLoop(X, W_, body),
  ];
  return {
    name: "dilatedStep",
    params: [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, F32, F32, F32],
    locals: [I32, I32, I32, I32, I32, F32, F32, F32, I32],
    body: countLoop(B, B_, perSlot),
  };
}

export const DILATED_KERNELS: KernelFunction[] = [dilatedInput(), dilatedStep()];

export interface DilatedKernels {
  dilatedInput(
    src: number,
    out: number,
    per4: number,
    shuffle: number,
    useShuffle: number,
    B: number,
    w: number,
    s: number,
    bases: number,
    useRenorm: number,
    mean: number,
    std: number,
    targetMean: number,
    targetStd: number,
    divisor: number,
  ): void;
  dilatedStep(
    noise: number,
    per4: number,
    shuffle: number,
    useShuffle: number,
    B: number,
    w: number,
    cellRow: number,
    s: number,
    offsets: number,
    hPad: number,
    wPad: number,
    padded: number,
    PW: number,
    out: number,
    W: number,
    g: number,
    sigma: number,
    dt: number,
  ): void;
}

/** Whether the kernels can address every array, with `table` (a view of `mem`) holding 2 entries per sample of B. */
function addressable(mem: PhaseMemory, table: Int32Array, B: number, ...arrays: (ArrayBufferView | null)[]): boolean {
  if (table.length < 2 * B) return false;
  return mem.holds(table, ...arrays.filter((a): a is ArrayBufferView => a !== null));
}

/** js.ts `dilatedModelInput` in WebAssembly, or false when the arrays are not views of `mem` (`table` receives the
 * cell offsets). */
export function dilatedModelInputWasm(
  k: DilatedKernels,
  mem: PhaseMemory,
  table: Int32Array,
  g: Float32Array,
  grid: DilatedGrid,
  offsets: readonly DilatedOffset[],
  renorm: Renormalization | null,
  shuffle: Int32Array | null,
  divisor: number,
  out: Float32Array,
): boolean {
  const { planes, paddedH: PH, paddedW: PW, scale: s } = grid;
  const { h, w, per } = checkGrid("dilatedModelInput", grid);
  const B = offsets.length;
  if (out.length < 2 * B * per) throw new RangeError("dilatedModelInput: out is too short");
  if (shuffle && shuffle.length < B * per) throw new RangeError("dilatedModelInput: shuffle needs B*per entries");
  // The kernel takes the divisor as a float32, which it always is in the pipeline: scale_model_input's.
  if (f(divisor) !== divisor || !addressable(mem, table, B, g, out, shuffle)) return false;
  table.set(offsetBases(offsets, PW));
  const rn = renorm ?? { mean: 0, std: 1, targetMean: 0, targetStd: 1 };
  for (let p = 0; p < planes; p++) {
    for (let y = 0; y < h; y++) {
      const i0 = (p * h + y) * w;
      const src = g.byteOffset + 4 * (p * PH + y * s) * PW;
      const sh = shuffle ? shuffle.byteOffset + 4 * i0 : 0;
      const useShuffle = shuffle ? 1 : 0;
      const useRenorm = renorm ? 1 : 0;
      k.dilatedInput(
        src,
        out.byteOffset + 4 * i0,
        4 * per,
        sh,
        useShuffle,
        B,
        w,
        s,
        table.byteOffset,
        useRenorm,
        rn.mean,
        rn.std,
        rn.targetMean,
        rn.targetStd,
        divisor,
      );
    }
  }
  return true;
}

/** js.ts `scatterGuided` in WebAssembly, or false when the arrays are not views of `mem`. */
export function scatterGuidedWasm(
  k: DilatedKernels,
  mem: PhaseMemory,
  table: Int32Array,
  padded: Float32Array,
  grid: DilatedGrid,
  offsets: readonly DilatedOffset[],
  noise: Float32Array,
  shuffle: Int32Array | null,
  step: GuidedStep,
  hPad: number,
  wPad: number,
  out: Float32Array,
): boolean {
  const { planes, paddedH: PH, paddedW: PW, scale: s } = grid;
  const { h, w, per } = checkGrid("scatterGuided", grid);
  const B = offsets.length;
  const H = PH - hPad;
  const W = PW - wPad;
  if (noise.length < 2 * B * per) throw new RangeError("scatterGuided: noise is too short");
  if (out.length < planes * H * W) throw new RangeError("scatterGuided: out is too short");
  if (shuffle && shuffle.length < B * per) throw new RangeError("scatterGuided: shuffle needs B*per entries");
  if (!addressable(mem, table, B, padded, noise, out, shuffle)) return false;
  const g = f(step.guidanceScale);
  const sg = f(step.sigma);
  const dt = f(f(step.sigmaNext) - sg);
  for (let b = 0; b < B; b++) [table[2 * b], table[2 * b + 1]] = offsets[b];
  for (let p = 0; p < planes; p++) {
    const lp = padded.byteOffset + 4 * p * PH * PW;
    const outPlane = out.byteOffset + 4 * p * H * W;
    for (let y = 0; y < h; y++) {
      const i0 = (p * h + y) * w;
      const sh = shuffle ? shuffle.byteOffset + 4 * i0 : 0;
      const useShuffle = shuffle ? 1 : 0;
      k.dilatedStep(
        noise.byteOffset + 4 * i0,
        4 * per,
        sh,
        useShuffle,
        B,
        w,
        y * s,
        s,
        table.byteOffset,
        hPad,
        wPad,
        lp,
        PW,
        outPlane,
        W,
        g,
        sg,
        dt,
      );
    }
  }
  return true;
}
