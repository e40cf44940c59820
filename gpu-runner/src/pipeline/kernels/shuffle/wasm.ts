/**
 * Window-interaction indices in WebAssembly: `shuffleIndexFromWords` (js.ts), the per-column Fisher-Yates
 * over pre-drawn 32-bit words, with the same draws and the same result. floor(word * 2^-32 * (b+1)) is computed as
 * the exact 64-bit product shifted right by 32.
 */
import type { PhaseMemory } from "../wasm/phaseMemory";
import { type Code, I32, type KernelFunction, op } from "../wasm/wasmEncoding";

function shuffleFromWords(): KernelFunction {
  // i32: words (byte address, (B-1)*n words in draw order), idx (byte address of [B, n] int32), perm (B int32 of
  // scratch), B, n.
  const [WORDS, IDX, PERM, B_, N] = [0, 1, 2, 3, 4];
  const [I, B, J, T, ROW] = [5, 6, 7, 8, 9];
  const permAt = (b: number): Code[] => [op.get(PERM), op.get(b), op.i32Const(2), op.i32Shl, op.i32Add];
  const forB = (body: readonly Code[]): Code[] => [
    op.i32Const(0),
    op.set(B),
    op.block,
    op.loop,
    op.get(B),
    op.get(B_),
    op.i32GeU,
    op.brIf(1),
    ...body,
    op.get(B),
    op.i32Const(1),
    op.i32Add,
    op.set(B),
    op.br(0),
    op.end,
    op.end,
  ];
  const column: Code[] = [
    // perm = 0..B-1
    ...forB([...permAt(B), op.get(B), op.i32Store]),
    // for b = B-1 down to 1: j = (word * (b+1)) >> 32; swap perm[b], perm[j]
    op.get(B_),
    op.i32Const(1),
    op.i32Sub,
    op.set(B),
    op.block,
    op.loop,
    op.get(B),
    op.i32Eqz,
    op.brIf(1),
    op.get(WORDS),
    op.i32Load,
    op.i64ExtendI32U,
    op.get(B),
    op.i32Const(1),
    op.i32Add,
    op.i64ExtendI32U,
    op.i64Mul,
    op.i64Const(32),
    op.i64ShrU,
    op.i32WrapI64,
    op.set(J),
    op.get(WORDS),
    op.i32Const(4),
    op.i32Add,
    op.set(WORDS),
    ...permAt(B),
    op.i32Load,
    op.set(T),
    ...permAt(B),
    ...permAt(J),
    op.i32Load,
    op.i32Store,
    ...permAt(J),
    op.get(T),
    op.i32Store,
    op.get(B),
    op.i32Const(1),
    op.i32Sub,
    op.set(B),
    op.br(0),
    op.end,
    op.end,
    // idx[b, i] = perm[b]
    op.get(IDX),
    op.get(I),
    op.i32Const(2),
    op.i32Shl,
    op.i32Add,
    op.set(T),
    ...forB([op.get(T), ...permAt(B), op.i32Load, op.i32Store, op.get(T), op.get(ROW), op.i32Add, op.set(T)]),
  ];
  return {
    name: "shuffleFromWords",
    params: [I32, I32, I32, I32, I32],
    locals: [I32, I32, I32, I32, I32],
    body: [
      op.get(N),
      op.i32Const(2),
      op.i32Shl,
      op.set(ROW),
      op.i32Const(0),
      op.set(I),
      op.block,
      op.loop,
      op.get(I),
      op.get(N),
      op.i32GeU,
      op.brIf(1),
      ...column,
      op.get(I),
      op.i32Const(1),
      op.i32Add,
      op.set(I),
      op.br(0),
      op.end,
      op.end,
    ],
  };
}

export const SHUFFLE_KERNELS: KernelFunction[] = [shuffleFromWords()];

export interface ShuffleKernels {
  shuffleFromWords(words: number, idx: number, perm: number, B: number, n: number): void;
}

/**
 * js.ts `shuffleIndexFromWords` in WebAssembly, or null when the words, `out` and `perm` (at least
 * B entries) are not views of `mem`. The same indices (shuffle.test.ts).
 */
export function shuffleFromWordsWasm(
  k: ShuffleKernels,
  mem: PhaseMemory,
  perm: Int32Array,
  B: number,
  n: number,
  words: Uint32Array,
  out: Int32Array,
): Int32Array | null {
  if (perm.length < B || !mem.holds(words, out, perm)) return null;
  k.shuffleFromWords(words.byteOffset, out.byteOffset, perm.byteOffset, B, n);
  return out;
}
