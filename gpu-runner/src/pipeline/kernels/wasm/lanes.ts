/**
 * Shared pieces of the float32 WebAssembly kernels: addressing and the ops of one lane width, so that a kernel writes
 * its arithmetic once for the f32x4 body and the scalar tail.
 */
import { type Code, op } from "./wasmEncoding";

/** The address `base + c` (c a byte offset). */
export const at = (base: number, c: number): Code[] => [op.get(base), op.get(c), op.i32Add];

/** The float32 ops of one lane width: f32x4 (with v128 locals) or f32 (with f32 locals). */
export interface Lanes {
  load: Code;
  store: Code;
  add: Code;
  sub: Code;
  mul: Code;
  div: Code;
}
export const V: Lanes = {
  load: op.v128Load,
  store: op.v128Store,
  add: op.f32x4Add,
  sub: op.f32x4Sub,
  mul: op.f32x4Mul,
  div: op.f32x4Div,
};
export const S: Lanes = {
  load: op.f32Load,
  store: op.f32Store,
  add: op.f32Add,
  sub: op.f32Sub,
  mul: op.f32Mul,
  div: op.f32Div,
};

/** Splat f32 params into v128 locals: [param, local] pairs. */
export const splats = (pairs: [number, number][]): Code[] =>
  pairs.flatMap(([p, l]) => [op.get(p), op.f32x4Splat, op.set(l)]);
