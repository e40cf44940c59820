/**
 * Just enough of the WebAssembly binary format to build the pipeline's few SIMD kernels at run time: no toolchain,
 * no .wasm file, no dependency. A kernel is one exported function over an imported memory; its body is written with
 * the opcode helpers below (names as in the WebAssembly text format).
 *
 * Why WebAssembly at all: JS has no float32 arithmetic, so every float32 op of the reference costs a float64 op plus
 * a Math.fround round trip (two conversions), and the hot kernels are bound by those conversions. WebAssembly's f32
 * and f32x4 ops are IEEE float32 (round to nearest even, subnormals kept, no fused multiply-add), i.e. exactly the
 * values Math.fround emulation gives, four lanes at a time.
 */

/** Unsigned LEB128. */
export function uleb(n: number): number[] {
  const out: number[] = [];
  let v = n >>> 0;
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}

/** Signed LEB128 of a 32-bit integer. */
export function sleb(n: number): number[] {
  const out: number[] = [];
  let v = n | 0;
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

export const I32 = 0x7f;
export const F32 = 0x7d;
export const F64 = 0x7c;
export const V128 = 0x7b;

/** Instructions (the text format's names). Loads and stores take no alignment promise beyond 4 bytes. */
export const op = {
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  end: [0x0b],
  br: (depth: number) => [0x0c, ...uleb(depth)],
  brIf: (depth: number) => [0x0d, ...uleb(depth)],
  get: (local: number) => [0x20, ...uleb(local)],
  set: (local: number) => [0x21, ...uleb(local)],
  i32Const: (n: number) => [0x41, ...sleb(n)],
  tee: (local: number) => [0x22, ...uleb(local)],
  ifI32: [0x04, I32],
  ifVoid: [0x04, 0x40],
  else: [0x05],
  i32Eqz: [0x45],
  i32LtS: [0x48],
  i32GtS: [0x4a],
  i32ShrU: [0x76],
  select: [0x1b],
  i32GeU: [0x4f],
  i32Add: [0x6a],
  i32Sub: [0x6b],
  i32Mul: [0x6c],
  i32Load: [0x28, 2, 0],
  i32Store: [0x36, 2, 0],
  i64Const: (n: number) => [0x42, ...sleb(n)],
  i64ExtendI32U: [0xad],
  i64Mul: [0x7e],
  i64ShrU: [0x88],
  i32WrapI64: [0xa7],
  f32Zero: [0x43, 0, 0, 0, 0],
  i32And: [0x71],
  i32Shl: [0x74],
  f32Load: [0x2a, 2, 0],
  f64Load: [0x2b, 3, 0],
  f64Store: [0x39, 3, 0],
  f64Add: [0xa0],
  f64Mul: [0xa2],
  f64PromoteF32: [0xbb],
  f32DemoteF64: [0xb6],
  memoryFill: [0xfc, ...uleb(11), 0x00],
  i32LtU: [0x49],
  f32Store: [0x38, 2, 0],
  f32Add: [0x92],
  f32Sub: [0x93],
  f32Mul: [0x94],
  f32Div: [0x95],
  v128Load: [0xfd, ...uleb(0x00), 2, 0],
  v128Store: [0xfd, ...uleb(0x0b), 2, 0],
  f32x4Splat: [0xfd, ...uleb(0x13)],
  f64x2Splat: [0xfd, ...uleb(0x14)],
  v128Load64Zero: [0xfd, ...uleb(0x5d), 2, 0],
  v128Store64Lane0: [0xfd, ...uleb(0x5b), 2, 0, 0],
  f64x2PromoteLow: [0xfd, ...uleb(0x5f)],
  f32x4DemoteZero: [0xfd, ...uleb(0x5e)],
  f64x2Add: [0xfd, ...uleb(0xf0)],
  f64x2Mul: [0xfd, ...uleb(0xf2)],
  v128Const0: [0xfd, ...uleb(0x0c), ...new Array(16).fill(0)],
  f32x4Add: [0xfd, ...uleb(0xe4)],
  f32x4Sub: [0xfd, ...uleb(0xe5)],
  f32x4Mul: [0xfd, ...uleb(0xe6)],
  f32x4Div: [0xfd, ...uleb(0xe7)],
} as const;

export interface KernelFunction {
  name: string;
  params: number[];
  /** Extra locals, in order after the parameters. */
  locals: number[];
  body: readonly Code[];
}

function section(id: number, bytes: number[]): number[] {
  return [id, ...uleb(bytes.length), ...bytes];
}

function name(s: string): number[] {
  const b = [...new TextEncoder().encode(s)];
  return [...uleb(b.length), ...b];
}

/** A module importing `env.memory` and exporting `fns` (each returning nothing). */
export function encodeModule(fns: readonly KernelFunction[]): Uint8Array {
  const types = fns.flatMap((fn) => [0x60, ...uleb(fn.params.length), ...fn.params, 0]);
  const imports = [1, ...name("env"), ...name("memory"), 0x02, 0x00, ...uleb(1)];
  const funcs = [...uleb(fns.length), ...fns.flatMap((_, i) => uleb(i))];
  const exports = [...uleb(fns.length), ...fns.flatMap((fn, i) => [...name(fn.name), 0x00, ...uleb(i)])];
  const bodies = fns.map((fn) => {
    const groups = fn.locals.flatMap((t) => [1, t]);
    const code = [...uleb(fn.locals.length), ...groups, ...flat(fn.body), 0x0b];
    return [...uleb(code.length), ...code];
  });
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    1,
    0,
    0,
    0,
    ...section(1, [...uleb(fns.length), ...types]),
    ...section(2, imports),
    ...section(3, funcs),
    ...section(7, exports),
    ...section(10, [...uleb(bodies.length), ...bodies.flat()]),
  ]);
}

/** Instructions are nested arrays of bytes; flattened when encoded. */
export type Code = number | readonly Code[];

export function flat(code: readonly Code[]): number[] {
  const out: number[] = [];
  const walk = (c: Code) => {
    if (typeof c === "number") out.push(c);
    else for (const x of c) walk(x);
  };
  for (const c of code) walk(c);
  return out;
}

/**
 * `for (c = 0; c < end4; c += 16) simd(); for (; c < end; c += 4) scalar();` with `c` a byte offset local: the
 * lanes of a row four at a time, then its remaining elements one by one.
 */
export function rowLoop(c: number, end4: number, end: number, simd: readonly Code[], scalar: readonly Code[]): Code[] {
  return [
    op.i32Const(0),
    op.set(c),
    op.block,
    op.loop,
    op.get(c),
    op.get(end4),
    op.i32GeU,
    op.brIf(1),
    ...simd,
    op.get(c),
    op.i32Const(16),
    op.i32Add,
    op.set(c),
    op.br(0),
    op.end,
    op.end,
    op.block,
    op.loop,
    op.get(c),
    op.get(end),
    op.i32GeU,
    op.brIf(1),
    ...scalar,
    op.get(c),
    op.i32Const(4),
    op.i32Add,
    op.set(c),
    op.br(0),
    op.end,
    op.end,
  ];
}

/** `for (r = 0; r < rows; r++) { body(); for each (local, stride) in steps: local += stride }`. */
export function rowsLoop(r: number, rows: number, body: readonly Code[], steps: [number, number][]): Code[] {
  return [
    op.i32Const(0),
    op.set(r),
    op.block,
    op.loop,
    op.get(r),
    op.get(rows),
    op.i32GeU,
    op.brIf(1),
    ...body,
    ...steps.flatMap(([local, stride]) => [op.get(local), op.get(stride), op.i32Add, op.set(local)]),
    op.get(r),
    op.i32Const(1),
    op.i32Add,
    op.set(r),
    op.br(0),
    op.end,
    op.end,
  ];
}

/** Byte lengths `end4` (whole groups of 4 lanes) and `end` of a row of `cols` float32s into the two locals. */
export function rowEnds(cols: number, end4: number, end: number): Code[] {
  return [
    op.get(cols),
    op.i32Const(-4),
    op.i32And,
    op.i32Const(2),
    op.i32Shl,
    op.set(end4),
    op.get(cols),
    op.i32Const(2),
    op.i32Shl,
    op.set(end),
  ];
}

/** `for (i = 0; i < n; i++) { body }` (i, n locals); `continue` is `op.brIf(0)` / `op.br(0)` inside `body`'s block. */
export function countLoop(i: number, n: number, body: readonly Code[]): Code[] {
  return [
    op.i32Const(0),
    op.set(i),
    op.block,
    op.loop,
    op.get(i),
    op.get(n),
    op.i32GeU,
    op.brIf(1),
    op.block, // the body's `continue` target
    ...body,
    op.end,
    op.get(i),
    op.i32Const(1),
    op.i32Add,
    op.set(i),
    op.br(0),
    op.end,
    op.end,
  ];
}
