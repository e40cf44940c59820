/**
 * Conversions between our float32 `Tensor`s and onnxruntime tensors of whatever element type a
 * model declares (float32 / float16 for data, int32 / int64 for ids, any of them for the timestep),
 * plus row slicing and concatenation for batch splitting.
 */
import * as ort from "onnxruntime-node";
import type { Tensor } from "../types";
import { fromHalf, toHalf } from "./halfCodec";

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Float data as an onnxruntime tensor of the declared element type (float32 wraps, no copy). */
export function floatFeed(data: Float32Array, dims: readonly number[], type: string): ort.Tensor {
  if (data.length !== numel(dims))
    throw new RangeError(`feed has ${data.length} values for shape [${dims.join(", ")}]`);
  if (type === "float32") return new ort.Tensor("float32", data, dims);
  if (type === "float16") return new ort.Tensor("float16", toHalf(data), dims);
  throw new TypeError(`cannot feed float data as ${type}`);
}

/**
 * Half-precision copies of float32 arrays the caller does not change (text conditioning: the pipeline builds each
 * batch once per phase), converted on first use and kept while the array lives: one conversion per phase instead of
 * one per call. Keyed by the array itself; callers slice rows of the copy.
 */
export class HalfCache {
  private readonly copies = new WeakMap<Float32Array, Uint16Array>();

  get(data: Float32Array): Uint16Array {
    let half = this.copies.get(data);
    if (half === undefined) {
      half = toHalf(data);
      this.copies.set(data, half);
    }
    return half;
  }
}

/** Token ids as int32 or int64. */
export function idsFeed(ids: Int32Array, dims: readonly number[], type: string): ort.Tensor {
  if (type === "int32") return new ort.Tensor("int32", ids, dims);
  if (type === "int64")
    return new ort.Tensor(
      "int64",
      BigInt64Array.from(ids, (v) => BigInt(v)),
      dims,
    );
  throw new TypeError(`cannot feed token ids as ${type}`);
}

/**
 * A scalar (timestep, conditioning scale) of shape [1] in the declared type. Integer types round
 * to nearest: SDXL's timesteps are integral floats (981, 961, ...).
 */
export function scalarFeed(value: number, type: string): ort.Tensor {
  switch (type) {
    case "float32":
      return new ort.Tensor("float32", Float32Array.of(value), [1]);
    case "float16":
      return new ort.Tensor("float16", toHalf(Float32Array.of(value)), [1]);
    case "int64":
      return new ort.Tensor("int64", BigInt64Array.of(BigInt(Math.round(value))), [1]);
    case "int32":
      return new ort.Tensor("int32", Int32Array.of(Math.round(value)), [1]);
    default:
      throw new TypeError(`cannot feed a scalar as ${type}`);
  }
}

/** A zero tensor of the declared float type (used for "no ControlNet" residuals). */
export function zerosFeed(dims: readonly number[], type: string): ort.Tensor {
  const n = numel(dims);
  if (type === "float32") return new ort.Tensor("float32", new Float32Array(n), dims);
  if (type === "float16") return new ort.Tensor("float16", new Uint16Array(n), dims); // +0.0 is all-zero bits
  throw new TypeError(`cannot make zeros of ${type}`);
}

/** An onnxruntime output as our float32 Tensor (float16 decoded exactly). */
export function toTensor(value: ort.Tensor, what: string): Tensor {
  const shape = [...value.dims];
  if (value.type === "float32") return { data: value.data as Float32Array, shape };
  if (value.type === "float16") {
    // Without a global Float16Array, onnxruntime hands float16 data over as raw half bits.
    const data = value.data;
    if (!(data instanceof Uint16Array)) return { data: Float32Array.from(data as ArrayLike<number>), shape };
    return { data: fromHalf(data), shape };
  }
  throw new TypeError(`${what}: expected a float32 or float16 output, got ${value.type}`);
}

/** Rows [start, end) of a batch-major tensor, sharing its data (zero copy). */
export function sliceRows(t: Tensor, start: number, end: number): Tensor {
  const rows = t.shape[0];
  if (start === 0 && end === rows) return t;
  const stride = rows === 0 ? 0 : t.data.length / rows;
  return { data: t.data.subarray(start * stride, end * stride), shape: [end - start, ...t.shape.slice(1)] };
}

/** Concatenates batch-major tensors along the batch axis. */
export function concatRows(parts: readonly Tensor[]): Tensor {
  if (parts.length === 1) return parts[0];
  const tail = parts[0].shape.slice(1);
  let rows = 0;
  let total = 0;
  for (const p of parts) {
    if (p.shape.length !== tail.length + 1 || p.shape.slice(1).some((d, i) => d !== tail[i])) {
      throw new RangeError(`concatRows: shape [${p.shape.join(", ")}] does not match [*, ${tail.join(", ")}]`);
    }
    rows += p.shape[0];
    total += p.data.length;
  }
  const data = new Float32Array(total);
  let at = 0;
  for (const p of parts) {
    data.set(p.data, at);
    at += p.data.length;
  }
  return { data, shape: [rows, ...tail] };
}

/** Checks a tensor's data length against its shape and (optionally) its rank. */
export function assertTensor(t: Tensor, what: string, rank?: number): void {
  if (rank !== undefined && t.shape.length !== rank) {
    throw new RangeError(`${what}: expected rank ${rank}, got shape [${t.shape.join(", ")}]`);
  }
  if (t.data.length !== numel(t.shape)) {
    throw new RangeError(`${what}: ${t.data.length} values for shape [${t.shape.join(", ")}]`);
  }
}
