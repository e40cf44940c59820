/**
 * The MultiDiffusion branch in WebAssembly: each kernel is the float32 arithmetic of the JS form (js.ts), op for op and
 * in the same order, so results are bit-identical (f32/f32x4 ops are IEEE float32: ties to even, subnormals kept, no
 * fused multiply-add; division is exact IEEE division, which the JS side gets as x * (1/d), tensor/float32.ts):
 *
 *   guidedSteps   accumulateGuided's loop        value += x + ((x - (x - s*eps)) / s) * dt, eps = eu + g*(et - eu)
 *   viewInput     viewModelInput's copy          out = out' = latent / divisor (both CFG rows)
 *
 * Rows go four lanes at a time with a scalar tail. Addresses are byte offsets into the memory; strides in bytes.
 */
import { at, type Lanes, S, splats, V } from "../wasm/lanes";
import type { PhaseMemory } from "../wasm/phaseMemory";
import { type Code, F32, I32, type KernelFunction, op, rowEnds, rowLoop, rowsLoop, V128 } from "../wasm/wasmEncoding";
import {
  batchViewSize,
  countView,
  type GuidedStep,
  innerColumns,
  type JitterFrame,
  type LocalSums,
  writeViewInput,
} from "./js";
import { clipView, type ViewBox } from "./viewBox";

const f = Math.fround;

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

export const MULTIDIFFUSION_WASM: KernelFunction[] = [guidedSteps(), viewInput()];

/** The exported functions, with addresses in bytes. */
export interface MultiDiffusionWasmExports {
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
}

/**
 * js.ts `viewModelInput` with the latent copied in WebAssembly (the padding zeros still written in JS), or null when
 * `latents` and `out` are not views of `mem` or the divisor is not a float32 (it always is in the pipeline:
 * scale_model_input's). Same values (multiDiffusion.test.ts, "in WebAssembly").
 */
export function viewModelInputWasm(
  k: MultiDiffusionWasmExports,
  mem: PhaseMemory,
  frame: JitterFrame,
  views: readonly ViewBox[],
  divisor: number,
  out: Float32Array,
): { vh: number; vw: number } | null {
  const { latents, planes, height: H, width: W, jr } = frame;
  if (!mem.holds(latents, out) || f(divisor) !== divisor) return null;
  const { vh, vw } = batchViewSize(frame, views);
  const per = planes * vh * vw;
  if (out.length < 2 * views.length * per) throw new RangeError("viewModelInput: out is too short");
  const PH = H + 2 * jr;
  const PW = W + 2 * jr;
  for (let b = 0; b < views.length; b++) {
    const { h0, w0 } = clipView(views[b], PH, PW);
    const { x0, x1 } = innerColumns(w0, vw, jr, W);
    if (x1 <= x0) continue;
    const y0 = Math.min(Math.max(jr - h0, 0), vh);
    const y1 = Math.max(Math.min(H + jr - h0, vh), y0);
    if (y1 <= y0) continue;
    const d0 = 2 * b * per;
    for (let p = 0; p < planes; p++) {
      const src = latents.byteOffset + 4 * ((p * H + h0 + y0 - jr) * W + w0 - jr + x0);
      const dst = out.byteOffset + 4 * (d0 + (p * vh + y0) * vw + x0);
      k.viewInput(src, dst, 4 * per, y1 - y0, x1 - x0, 4 * W, 4 * vw, divisor);
    }
  }
  return writeViewInput(frame, views, divisor, out, true);
}

/**
 * js.ts `accumulateGuided` with the element loop in WebAssembly (the counts in JS), or false when the latent, the sums
 * and the noise are not views of `mem`. Same values (multiDiffusion.test.ts, "in WebAssembly").
 */
export function accumulateGuidedWasm(
  k: MultiDiffusionWasmExports,
  mem: PhaseMemory,
  frame: JitterFrame,
  views: readonly ViewBox[],
  noise: Float32Array,
  step: GuidedStep,
  sums: LocalSums,
  countViews: boolean,
): boolean {
  const { latents, planes, height: H, width: W, jr } = frame;
  const { value, count } = sums;
  if (!mem.holds(latents, value, noise)) return false;
  const { vh, vw } = batchViewSize(frame, views);
  const per = planes * vh * vw;
  if (noise.length < 2 * views.length * per) throw new RangeError("accumulateGuided: noise is too short");
  const PH = H + 2 * jr;
  const PW = W + 2 * jr;
  const g = f(step.guidanceScale);
  const s = f(step.sigma);
  const dt = f(f(step.sigmaNext) - s);
  for (let b = 0; b < views.length; b++) {
    const { h0, w0 } = clipView(views[b], PH, PW);
    const { x0, x1 } = innerColumns(w0, vw, jr, W);
    if (x1 === x0) continue;
    const y0 = Math.max(jr - h0, 0);
    const y1 = Math.min(H + jr - h0, vh);
    const u = 2 * b * per;
    const t = u + per;
    if (y1 > y0) {
      for (let p = 0; p < planes; p++) {
        const o = 4 * ((p * vh + y0) * vw + x0);
        const l = 4 * ((p * H + h0 + y0 - jr) * W + w0 - jr + x0);
        const n0 = noise.byteOffset + o;
        const nu = n0 + 4 * u;
        const nt = n0 + 4 * t;
        k.guidedSteps(nu, nt, latents.byteOffset + l, value.byteOffset + l, y1 - y0, x1 - x0, 4 * vw, 4 * W, g, s, dt);
      }
    }
    if (countViews) countView(count, W, h0 - jr, w0 - jr, y0, y1, x0, x1);
  }
  return true;
}
