/**
 * The WebAssembly kernels of an upscaling step. Each is the float32 arithmetic of a JS function, op for op and in the
 * same order, so results are bit-identical (f32/f32x4 ops are IEEE float32: ties to even, subnormals kept, no fused
 * multiply-add; division is exact IEEE division, which the JS side gets as x * (1/d), tensor/float32.ts):
 *
 *   guidedSteps   accumulateGuided's loop        value += x + ((x - (x - s*eps)) / s) * dt, eps = eu + g*(et - eu)
 *   viewInput     viewModelInput's copy          out = out' = latent / divisor (both CFG rows)
 *   skipResidual  skipResidualNoised             x = x*keep + (up + noise*s)*mix
 *   blend         fuseBranches, both branches    out = ((value / count)*wl + global*wg) / total
 *   average       fuseBranches, local only       out = value / count
 *
 * Rows go four lanes at a time with a scalar tail. Addresses are byte offsets into the memory; strides in bytes.
 * Positions whose count is 0 come out as 0/0 or x/0 here: fuseBranches finishes them in JS.
 */
import { type Code, F32, I32, type KernelFunction, op, rowEnds, rowLoop, rowsLoop, V128 } from "../wasm/wasmEncoding";

/** The address `base + c` (c a byte offset). */
const at = (base: number, c: number): Code[] => [op.get(base), op.get(c), op.i32Add];

/** The float32 ops of one lane width: f32x4 (with v128 locals) or f32 (with f32 locals). */
interface Lanes {
  load: Code;
  store: Code;
  add: Code;
  sub: Code;
  mul: Code;
  div: Code;
}
const V: Lanes = {
  load: op.v128Load,
  store: op.v128Store,
  add: op.f32x4Add,
  sub: op.f32x4Sub,
  mul: op.f32x4Mul,
  div: op.f32x4Div,
};
const S: Lanes = {
  load: op.f32Load,
  store: op.f32Store,
  add: op.f32Add,
  sub: op.f32Sub,
  mul: op.f32Mul,
  div: op.f32Div,
};

/** Splat f32 params into v128 locals: [param, local] pairs. */
const splats = (pairs: [number, number][]): Code[] => pairs.flatMap(([p, l]) => [op.get(p), op.f32x4Splat, op.set(l)]);

function guidedSteps(): KernelFunction {
  // Params: nu, nt, lat, val, rows, cols, nStride, lStride (i32); g, s, dt (f32). Then locals.
  const [NU, NT, LAT, VAL, ROWS, COLS, NS, LS, G, SG, DT] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const [R, C, END4, END, GV, SV, DTV, EUV, EPSV, XV, EU, EPS, X] = [
    11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
  ];
  const lanes = (o: Lanes, g: number, s: number, dt: number, eu: number, eps: number, x: number): Code[] => [
    ...at(NU, C),
    o.load,
    op.set(eu),
    op.get(eu),
    op.get(g),
    ...at(NT, C),
    o.load,
    op.get(eu),
    o.sub,
    o.mul,
    o.add,
    op.set(eps), // eps = eu + g*(et - eu)
    ...at(LAT, C),
    o.load,
    op.set(x),
    ...at(VAL, C), // store address
    ...at(VAL, C),
    o.load,
    op.get(x),
    op.get(x),
    op.get(x),
    op.get(s),
    op.get(eps),
    o.mul,
    o.sub, // x0 = x - s*eps
    o.sub, // x - x0
    op.get(s),
    o.div, // d
    op.get(dt),
    o.mul,
    o.add, // x + d*dt
    o.add, // value + step
    o.store,
  ];
  return {
    name: "guidedSteps",
    params: [I32, I32, I32, I32, I32, I32, I32, I32, F32, F32, F32],
    locals: [I32, I32, I32, I32, V128, V128, V128, V128, V128, V128, F32, F32, F32],
    body: [
      ...splats([
        [G, GV],
        [SG, SV],
        [DT, DTV],
      ]),
      ...rowEnds(COLS, END4, END),
      ...rowsLoop(
        R,
        ROWS,
        rowLoop(C, END4, END, lanes(V, GV, SV, DTV, EUV, EPSV, XV), lanes(S, G, SG, DT, EU, EPS, X)),
        [
          [NU, NS],
          [NT, NS],
          [LAT, LS],
          [VAL, LS],
        ],
      ),
    ],
  };
}

function viewInput(): KernelFunction {
  // Params: lat, out, gap (bytes from a CFG row to its twin), rows, cols, lStride, oStride (i32); divisor (f32).
  const [LAT, OUT, GAP, ROWS, COLS, LS, OS, D] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [R, C, END4, END, DV, T, TS] = [8, 9, 10, 11, 12, 13, 14];
  const lanes = (o: Lanes, d: number, t: number): Code[] => [
    ...at(LAT, C),
    o.load,
    op.get(d),
    o.div,
    op.set(t),
    ...at(OUT, C),
    op.get(t),
    o.store,
    ...at(OUT, C),
    op.get(GAP),
    op.i32Add,
    op.get(t),
    o.store,
  ];
  return {
    name: "viewInput",
    params: [I32, I32, I32, I32, I32, I32, I32, F32],
    locals: [I32, I32, I32, I32, V128, V128, F32],
    body: [
      ...splats([[D, DV]]),
      ...rowEnds(COLS, END4, END),
      ...rowsLoop(R, ROWS, rowLoop(C, END4, END, lanes(V, DV, T), lanes(S, D, TS)), [
        [LAT, LS],
        [OUT, OS],
      ]),
    ],
  };
}

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

export const KERNELS: KernelFunction[] = [guidedSteps(), viewInput(), skipResidual(), blend(), average()];

/** The exported functions, with addresses in bytes. */
export interface Kernels {
  guidedSteps(
    nu: number,
    nt: number,
    lat: number,
    val: number,
    rows: number,
    cols: number,
    nStride: number,
    lStride: number,
    g: number,
    s: number,
    dt: number,
  ): void;
  viewInput(
    lat: number,
    out: number,
    gap: number,
    rows: number,
    cols: number,
    lStride: number,
    oStride: number,
    divisor: number,
  ): void;
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
