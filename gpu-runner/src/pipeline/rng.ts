/**
 * Deterministic random streams for a render: one independent stream per (seed, stream name), so a
 * phase's noise and jitter depend only on the seed and the phase, never on how many phases follow or
 * on draws made elsewhere. Phases 1..k of a 4096 render therefore equal those of a 2048 render with
 * the same seed, which is what lets the service cache and reuse earlier phases.
 *
 * Generator: xoshiro128** (32-bit words, fast with Math.imul, period 2^128 - 1), keyed by a 128-bit
 * hash of the seed and the UTF-8 stream name. Gaussians: Box-Muller on a 53-bit uniform (so the tails
 * are not truncated at 32-bit resolution) and a 32-bit angle. V8's Math.log/sqrt/cos/sin are its own
 * fdlibm ports, so streams are identical across platforms.
 */
import type { RandInt } from "./views";

const TWO_32 = 4294967296;
const TWO_NEG_32 = 1 / TWO_32;
const TWO_NEG_53 = 2 ** -53;
const TWO_PI = 2 * Math.PI;

/** murmur3's 32-bit finaliser: full avalanche of one word. */
function fmix32(h: number): number {
  let x = h ^ (h >>> 16);
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** A 128-bit key from (seed, name): four multiply-xor lanes over the bytes, cross-mixed, finalised. */
function streamKey(seed: number, name: string): Uint32Array {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`seed must be a non-negative safe integer, got ${seed}`);
  const text = new TextEncoder().encode(name);
  const bytes = new Uint8Array(9 + text.length);
  const lo = seed >>> 0;
  const hi = Math.floor(seed / TWO_32) >>> 0;
  for (let k = 0; k < 4; k++) {
    bytes[k] = (lo >>> (8 * k)) & 0xff;
    bytes[4 + k] = (hi >>> (8 * k)) & 0xff;
  }
  bytes[8] = 0xff; // separator: not a valid UTF-8 byte, so (seed, name) pairs never collide by concatenation
  bytes.set(text, 9);
  let a = 0x6a09e667;
  let b = 0xbb67ae85;
  let c = 0x3c6ef372;
  let d = 0xa54ff53a ^ bytes.length;
  for (let i = 0; i < bytes.length; i++) {
    const x = bytes[i];
    a = b ^ Math.imul(a ^ x, 0x9e3779b1);
    b = c ^ Math.imul(b ^ x, 0x85ebca77);
    c = d ^ Math.imul(c ^ x, 0xc2b2ae3d);
    d = a ^ Math.imul(d ^ x, 0x27d4eb2f);
  }
  const key = new Uint32Array([fmix32(a ^ c), fmix32(b ^ d), fmix32(c ^ a ^ b), fmix32(d ^ b ^ c)]);
  if ((key[0] | key[1] | key[2] | key[3]) === 0) key[0] = 1; // xoshiro's one forbidden state
  return key;
}

/** One seeded stream. Methods draw in a fixed order, so a stream is reproducible call by call. */
export class SeededStream {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number, name: string) {
    const k = streamKey(seed, name);
    this.s0 = k[0];
    this.s1 = k[1];
    this.s2 = k[2];
    this.s3 = k[3];
  }

  /** Next 32-bit word (xoshiro128**). */
  nextU32(): number {
    const s1 = this.s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /**
   * Fills `out` with the next `out.length` words, exactly the values successive `nextU32()` calls return (the state
   * lives in locals for the loop: ~2x faster than the method for the million draws of a window-interaction batch).
   */
  fillU32(out: Uint32Array): Uint32Array {
    let s0 = this.s0;
    let s1 = this.s1;
    let s2 = this.s2;
    let s3 = this.s3;
    for (let k = 0; k < out.length; k++) {
      out[k] = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
      const t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = rotl(s3, 11);
    }
    this.s0 = s0;
    this.s1 = s1;
    this.s2 = s2;
    this.s3 = s3;
    return out;
  }

  /** Uniform in (0, 1] with 53 random bits (never 0, so log() is finite). */
  nextUnitOpen0(): number {
    const a = this.nextU32() >>> 5; // 27 bits
    const b = this.nextU32() >>> 6; // 26 bits
    return (a * 67108864 + b + 1) * TWO_NEG_53;
  }

  /** Uniform integer in [low, high], both inclusive (Python's randint contract), without modulo bias. */
  int(low: number, high: number): number {
    if (!Number.isInteger(low) || !Number.isInteger(high) || high < low) {
      throw new Error(`randint bounds must be integers with low <= high, got ${low}, ${high}`);
    }
    const range = high - low + 1;
    if (range > TWO_32) throw new Error("randint range over 2^32 is not supported");
    const limit = TWO_32 - (TWO_32 % range);
    let u = this.nextU32();
    while (u >= limit) u = this.nextU32();
    return low + (u % range);
  }

  /** Fills `out` with standard normal samples (pairs from Box-Muller; an odd tail drops its partner). */
  gaussianInto(out: Float32Array): Float32Array {
    const n = out.length;
    for (let i = 0; i < n; i += 2) {
      const r = Math.sqrt(-2 * Math.log(this.nextUnitOpen0()));
      const theta = TWO_PI * (this.nextU32() * TWO_NEG_32);
      out[i] = r * Math.cos(theta);
      if (i + 1 < n) out[i + 1] = r * Math.sin(theta);
    }
    return out;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** A RandInt (e.g. for view jitter) drawing from the (seed, stream) stream. */
export function randIntStream(seed: number, stream: string): RandInt {
  const s = new SeededStream(seed, stream);
  return (low, high) => s.int(low, high);
}

/** `length` standard normal float32 samples of the (seed, stream) stream; a prefix of any longer draw. */
export function gaussian(seed: number, stream: string, length: number): Float32Array {
  return new SeededStream(seed, stream).gaussianInto(new Float32Array(length));
}
