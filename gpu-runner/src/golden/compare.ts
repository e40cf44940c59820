import type { GoldenTensor, Tolerance } from "./types";

/** Thrown by the checks below; its message names the key and the first differing element. */
export class Mismatch extends Error {}

/** A golden tensor as a typed array: float32 values are rounded with Math.fround, as the README says. */
export function readTensor(t: GoldenTensor): { data: Float32Array | Float64Array | Int32Array; shape: number[] } {
  const nums = t.data.map(Number);
  switch (t.dtype) {
    case "float32":
      return { data: Float32Array.from(nums), shape: t.shape };
    case "float64":
      return { data: Float64Array.from(nums), shape: t.shape };
    default:
      return { data: Int32Array.from(nums), shape: t.shape };
  }
}

export function readF32(t: GoldenTensor): Float32Array {
  return Float32Array.from(t.data.map(Number));
}

export function isGoldenTensor(x: unknown): x is GoldenTensor {
  return typeof x === "object" && x !== null && "shape" in x && "data" in x && "dtype" in x;
}

/** Elementwise |a - e| <= abs + rel*|e| over every value; shapes must agree when given. */
export function expectClose(
  key: string,
  actual: ArrayLike<number>,
  expected: GoldenTensor | ArrayLike<number> | number,
  tol: Tolerance,
  actualShape?: readonly number[],
): void {
  const exp: ArrayLike<number> =
    typeof expected === "number" ? [expected] : isGoldenTensor(expected) ? expected.data.map(Number) : expected;
  if (isGoldenTensor(expected) && actualShape && expected.shape.join(",") !== actualShape.join(",")) {
    throw new Mismatch(`${key}: shape [${actualShape}] != expected [${expected.shape}]`);
  }
  if (actual.length !== exp.length) throw new Mismatch(`${key}: length ${actual.length} != expected ${exp.length}`);
  for (let i = 0; i < exp.length; i++) {
    const a = actual[i];
    const e = exp[i];
    if (!(Math.abs(a - e) <= tol.abs + tol.rel * Math.abs(e))) {
      throw new Mismatch(`${key}[${i}]: ${a} != expected ${e} (abs ${tol.abs}, rel ${tol.rel})`);
    }
  }
}

/** Exact equality of integers, strings, booleans and nested arrays/objects of them. */
export function expectExact(key: string, actual: unknown, expected: unknown): void {
  const exp = isGoldenTensor(expected) ? expected.data.map(Number) : expected;
  const act = ArrayBuffer.isView(actual) ? Array.from(actual as unknown as ArrayLike<number>) : actual;
  const a = JSON.stringify(act);
  const e = JSON.stringify(exp);
  if (a !== e) {
    throw new Mismatch(
      `${key}: ${a.length > 300 ? `${a.slice(0, 300)}…` : a} != expected ${e.length > 300 ? `${e.slice(0, 300)}…` : e}`,
    );
  }
}
