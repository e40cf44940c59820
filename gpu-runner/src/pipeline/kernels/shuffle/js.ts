/**
 * Window-interaction indices from pre-drawn random words: `randomShuffleIndex` (../dilated/reference.ts) with the
 * same draws and the same result (shuffle.test.ts), without a call per draw; wasm.ts is its WebAssembly form.
 */

const TWO_NEG_32 = 2 ** -32;

/**
 * `randomShuffleIndex` with `random() = word * 2^-32` over `words` (the next (B-1)*n words of a 32-bit generator, in
 * draw order): the same indices, without a call per draw (the words come from SeededStream.fillU32).
 */
export function shuffleIndexFromWords(B: number, n: number, words: Uint32Array, out?: Int32Array): Int32Array {
  const idx = out ?? new Int32Array(B * n);
  if (idx.length < B * n) throw new RangeError("shuffleIndexFromWords: out is too short");
  if (words.length < (B - 1) * n) throw new RangeError("shuffleIndexFromWords: needs (B-1)*n words");
  const perm = new Int32Array(B);
  let k = 0;
  for (let i = 0; i < n; i++) {
    for (let b = 0; b < B; b++) perm[b] = b;
    for (let b = B - 1; b > 0; b--) {
      // floor(word * 2^-32 * (b+1)): every product is exact in float64 and below 2^31, so `| 0` floors.
      const j = (words[k++] * (b + 1) * TWO_NEG_32) | 0;
      const t = perm[b];
      perm[b] = perm[j];
      perm[j] = t;
    }
    for (let b = 0, at = i; b < B; b++, at += n) idx[at] = perm[b];
  }
  return idx;
}
