/**
 * ONNX message encoders (onnx.proto3 field numbers; ONNX files are proto2-compatible and accept
 * unpacked repeated scalars, which is what we write). Only the fields a small inference graph needs.
 */
import { ProtoWriter } from "./proto";

/** TensorProto.DataType values we use. */
export const DataType = { FLOAT: 1, INT32: 6, INT64: 7, BOOL: 9, FLOAT16: 10 } as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

/** A symbolic (string) or fixed (number) dimension. */
export type Dim = number | string;

export interface TensorData {
  name: string;
  dataType: DataTypeCode;
  dims: readonly number[];
  /** Little-endian element bytes (TensorProto.raw_data). */
  raw: Uint8Array;
}

export type Attr =
  | { kind: "int"; value: number }
  | { kind: "float"; value: number }
  | { kind: "string"; value: string }
  | { kind: "ints"; value: readonly number[] }
  | { kind: "floats"; value: readonly number[] }
  | { kind: "tensor"; value: TensorData }
  | { kind: "graph"; value: GraphData };

export interface NodeData {
  opType: string;
  name: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attrs: Readonly<Record<string, Attr>>;
}

export interface ValueInfo {
  name: string;
  dataType: DataTypeCode;
  dims: readonly Dim[];
}

export interface GraphData {
  name: string;
  nodes: readonly NodeData[];
  initializers: readonly TensorData[];
  inputs: readonly ValueInfo[];
  outputs: readonly ValueInfo[];
}

export interface ModelOptions {
  irVersion: number;
  opset: number;
  producer: string;
  docString?: string;
}

// AttributeProto.AttributeType
const ATTR_TYPE = { float: 1, int: 2, string: 3, tensor: 4, graph: 5, floats: 6, ints: 7 } as const;

function writeTensor(w: ProtoWriter, t: TensorData): void {
  for (const d of t.dims) w.int(1, d);
  w.int(2, t.dataType);
  w.string(8, t.name);
  w.bytes(9, t.raw);
}

function writeAttr(w: ProtoWriter, name: string, a: Attr): void {
  w.string(1, name);
  switch (a.kind) {
    case "float":
      w.float(2, a.value);
      break;
    case "int":
      w.int(3, a.value);
      break;
    case "string":
      w.string(4, a.value);
      break;
    case "tensor":
      w.message(5, (m) => writeTensor(m, a.value));
      break;
    case "graph": {
      const graph = a.value;
      w.message(6, (m) => writeGraph(m, graph));
      break;
    }
    case "floats":
      for (const f of a.value) w.float(7, f);
      break;
    case "ints":
      for (const i of a.value) w.int(8, i);
      break;
  }
  w.int(20, ATTR_TYPE[a.kind]);
}

function writeNode(w: ProtoWriter, n: NodeData): void {
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name);
  w.string(4, n.opType);
  for (const [key, a] of Object.entries(n.attrs)) w.message(5, (m) => writeAttr(m, key, a));
}

function writeValueInfo(w: ProtoWriter, v: ValueInfo): void {
  w.string(1, v.name);
  // TypeProto { tensor_type (1): { elem_type (1), shape (2): { dim (1): { dim_value (1) | dim_param (2) } } } }
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, v.dataType);
      tensor.message(2, (shape) => {
        for (const d of v.dims) {
          shape.message(1, (dim) => (typeof d === "number" ? dim.int(1, d) : dim.string(2, d)));
        }
      });
    }),
  );
}

/** GraphProto fields (also a Loop body's). */
function writeGraph(g: ProtoWriter, graph: GraphData): void {
  for (const n of graph.nodes) g.message(1, (m) => writeNode(m, n));
  g.string(2, graph.name);
  for (const t of graph.initializers) g.message(5, (m) => writeTensor(m, t));
  for (const v of graph.inputs) g.message(11, (m) => writeValueInfo(m, v));
  for (const v of graph.outputs) g.message(12, (m) => writeValueInfo(m, v));
}

/** Serialises a ModelProto. */
export function encodeModel(graph: GraphData, opts: ModelOptions): Uint8Array {
  const w = new ProtoWriter();
  w.int(1, opts.irVersion);
  w.string(2, opts.producer);
  w.string(3, "1");
  if (opts.docString) w.string(6, opts.docString);
  w.message(7, (g) => writeGraph(g, graph));
  // OperatorSetIdProto { domain (1) = "" (default ONNX domain), version (2) }
  w.message(8, (o) => o.string(1, "").int(2, opts.opset));
  return w.finish();
}
