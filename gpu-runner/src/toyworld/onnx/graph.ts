/**
 * A tiny ONNX graph builder: values are names (strings), ops append nodes, constants become
 * initializers. Enough to write each toy-world model in a page of code.
 */
import {
  type Attr,
  DataType,
  type DataTypeCode,
  type Dim,
  encodeModel,
  type GraphData,
  type NodeData,
  type TensorData,
} from "./model";

export const OPSET = 17;
export const IR_VERSION = 8;

export type ElemType = "float" | "float16" | "int32" | "int64" | "bool";
const CODES: Record<ElemType, DataTypeCode> = {
  float: DataType.FLOAT,
  float16: DataType.FLOAT16,
  int32: DataType.INT32,
  int64: DataType.INT64,
  bool: DataType.BOOL,
};

export const attr = {
  int: (value: number): Attr => ({ kind: "int", value }),
  float: (value: number): Attr => ({ kind: "float", value }),
  str: (value: string): Attr => ({ kind: "string", value }),
  ints: (value: readonly number[]): Attr => ({ kind: "ints", value }),
  floats: (value: readonly number[]): Attr => ({ kind: "floats", value }),
  graph: (value: Graph): Attr => ({ kind: "graph", value: value.data() }),
};

function f32Bytes(data: ArrayLike<number>): Uint8Array {
  const f = Float32Array.from(data);
  return new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
}

function i64Bytes(data: ArrayLike<number>): Uint8Array {
  const b = BigInt64Array.from(Array.from(data, (x) => BigInt(x)));
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export class Graph {
  private readonly nodes: NodeData[] = [];
  private readonly inits: TensorData[] = [];
  private readonly inputs: { name: string; dataType: DataTypeCode; dims: readonly Dim[] }[] = [];
  private readonly outputs: { name: string; dataType: DataTypeCode; dims: readonly Dim[] }[] = [];
  private readonly constCache = new Map<string, string>();
  private counter = 0;

  /** `prefix` keeps a subgraph's (Loop body's) names apart from its outer graph's. */
  constructor(
    readonly name: string,
    private readonly prefix = "",
  ) {}

  private fresh(hint: string): string {
    return `${this.prefix}${hint}_${this.counter++}`;
  }

  input(name: string, type: ElemType, dims: readonly Dim[]): string {
    this.inputs.push({ name, dataType: CODES[type], dims });
    return name;
  }

  /** Declares a graph output named `name`, computed by `value`. */
  output(name: string, value: string, type: ElemType, dims: readonly Dim[]): void {
    if (value !== name)
      this.nodes.push({ opType: "Identity", name: `out_${name}`, inputs: [value], outputs: [name], attrs: {} });
    this.outputs.push({ name, dataType: CODES[type], dims });
  }

  /** A float32 initializer (weights, tables). */
  f32(data: ArrayLike<number>, dims: readonly number[], hint = "w"): string {
    const size = dims.reduce((a, b) => a * b, 1);
    if (data.length !== size) throw new Error(`${hint}: ${data.length} values for dims [${dims}]`);
    const name = this.fresh(hint);
    this.inits.push({ name, dataType: DataType.FLOAT, dims, raw: f32Bytes(data) });
    return name;
  }

  /** An int64 initializer (shapes, axes, indices). */
  i64(data: readonly number[], dims: readonly number[] = [data.length], hint = "i"): string {
    const key = `i64:${dims.join("x")}:${data.join(",")}`;
    const cached = this.constCache.get(key);
    if (cached) return cached;
    const name = this.fresh(hint);
    this.inits.push({ name, dataType: DataType.INT64, dims, raw: i64Bytes(data) });
    this.constCache.set(key, name);
    return name;
  }

  /** A float32 scalar constant (rank 0), shared between uses. */
  scalar(v: number): string {
    const key = `f32:${Math.fround(v)}`;
    const cached = this.constCache.get(key);
    if (cached) return cached;
    const name = this.f32([v], [], "c");
    this.constCache.set(key, name);
    return name;
  }

  /** Appends a node with `n` outputs. */
  opN(opType: string, inputs: readonly string[], n: number, attrs: Record<string, Attr> = {}): string[] {
    const outputs = Array.from({ length: n }, () => this.fresh(opType.toLowerCase()));
    this.nodes.push({ opType, name: `${this.prefix}n${this.nodes.length}_${opType}`, inputs, outputs, attrs });
    return outputs;
  }

  op(opType: string, inputs: readonly string[], attrs: Record<string, Attr> = {}): string {
    return this.opN(opType, inputs, 1, attrs)[0];
  }

  // Elementwise (numpy broadcasting).
  add = (a: string, b: string) => this.op("Add", [a, b]);
  sub = (a: string, b: string) => this.op("Sub", [a, b]);
  mul = (a: string, b: string) => this.op("Mul", [a, b]);
  div = (a: string, b: string) => this.op("Div", [a, b]);
  max = (a: string, b: string) => this.op("Max", [a, b]);
  min = (a: string, b: string) => this.op("Min", [a, b]);
  neg = (a: string) => this.op("Neg", [a]);
  exp = (a: string) => this.op("Exp", [a]);
  log = (a: string) => this.op("Log", [a]);
  sqrt = (a: string) => this.op("Sqrt", [a]);
  abs = (a: string) => this.op("Abs", [a]);
  sigmoid = (a: string) => this.op("Sigmoid", [a]);
  floor = (a: string) => this.op("Floor", [a]);
  matmul = (a: string, b: string) => this.op("MatMul", [a, b]);
  /** x * k for a constant k. */
  scale = (x: string, k: number) => this.mul(x, this.scalar(k));
  /** x + k for a constant k. */
  shift = (x: string, k: number) => this.add(x, this.scalar(k));
  clip = (x: string, lo: number, hi: number) => this.op("Clip", [x, this.scalar(lo), this.scalar(hi)]);

  cast(x: string, to: ElemType): string {
    return this.op("Cast", [x], { to: attr.int(CODES[to]) });
  }

  reshape(x: string, shape: readonly number[] | string): string {
    return this.op("Reshape", [x, typeof shape === "string" ? shape : this.i64(shape)]);
  }

  transpose(x: string, perm: readonly number[]): string {
    return this.op("Transpose", [x], { perm: attr.ints(perm) });
  }

  concat(xs: readonly string[], axis: number): string {
    return this.op("Concat", xs, { axis: attr.int(axis) });
  }

  /** Static slice along `axes` (ends may be large to mean "to the end"). */
  slice(x: string, starts: readonly number[], ends: readonly number[], axes: readonly number[]): string {
    return this.op("Slice", [x, this.i64(starts), this.i64(ends), this.i64(axes)]);
  }

  unsqueeze(x: string, axes: readonly number[]): string {
    return this.op("Unsqueeze", [x, this.i64(axes)]);
  }

  squeeze(x: string, axes: readonly number[]): string {
    return this.op("Squeeze", [x, this.i64(axes)]);
  }

  reduceSum(x: string, axes: readonly number[], keepdims = true): string {
    return this.op("ReduceSum", [x, this.i64(axes)], { keepdims: attr.int(keepdims ? 1 : 0) });
  }

  reduceMean(x: string, axes: readonly number[], keepdims = true): string {
    return this.op("ReduceMean", [x], { axes: attr.ints(axes), keepdims: attr.int(keepdims ? 1 : 0) });
  }

  reduceMax(x: string, axes: readonly number[], keepdims = true): string {
    return this.op("ReduceMax", [x], { axes: attr.ints(axes), keepdims: attr.int(keepdims ? 1 : 0) });
  }

  reduceLogSumExp(x: string, axes: readonly number[], keepdims = true): string {
    return this.op("ReduceLogSumExp", [x], { axes: attr.ints(axes), keepdims: attr.int(keepdims ? 1 : 0) });
  }

  softmax(x: string, axis: number): string {
    return this.op("Softmax", [x], { axis: attr.int(axis) });
  }

  gather(x: string, indices: string, axis: number): string {
    return this.op("Gather", [x, indices], { axis: attr.int(axis) });
  }

  shape(x: string, start?: number, end?: number): string {
    const a: Record<string, Attr> = {};
    if (start !== undefined) a.start = attr.int(start);
    if (end !== undefined) a.end = attr.int(end);
    return this.op("Shape", [x], a);
  }

  /**
   * Non-overlapping k x k average pooling over the last two axes of an NCHW tensor. `ceil` keeps a partial last
   * window (averaged over the pixels it covers), so a side n gives ceil(n / k) outputs instead of floor(n / k).
   */
  avgPool(x: string, k: number, opts: { ceil?: boolean } = {}): string {
    const a: Record<string, Attr> = { kernel_shape: attr.ints([k, k]), strides: attr.ints([k, k]) };
    if (opts.ceil) a.ceil_mode = attr.int(1);
    return this.op("AveragePool", [x], a);
  }

  /** Nearest-neighbour upsampling of an NCHW tensor by an integer factor. */
  upsampleNearest(x: string, k: number): string {
    return this.op("Resize", [x, "", this.f32([1, 1, k, k], [4], "scales")], {
      mode: attr.str("nearest"),
      coordinate_transformation_mode: attr.str("asymmetric"),
      nearest_mode: attr.str("floor"),
    });
  }

  /** Range(0, n) as float32 for a float32 scalar n. */
  rangeTo(n: string): string {
    return this.op("Range", [this.scalar(0), n, this.scalar(1)]);
  }

  data(): GraphData {
    return { name: this.name, nodes: this.nodes, initializers: this.inits, inputs: this.inputs, outputs: this.outputs };
  }

  encode(docString?: string): Uint8Array {
    return encodeModel(this.data(), { irVersion: IR_VERSION, opset: OPSET, producer: "accdiff-toyworld", docString });
  }
}
