/**
 * Test support: serialises a small ONNX ModelProto with protobufjs's wire writer (field numbers of
 * onnx.proto3). Just what the stub bundle's graphs need; the toy world has its own writer.
 */
import protobuf from "protobufjs";

/** TensorProto.DataType codes. */
export const ONNX_TYPE = { float32: 1, int32: 6, int64: 7, float16: 10 } as const;
export type OnnxTypeName = keyof typeof ONNX_TYPE;

export type Dim = number | string;

export type Attr =
  | { kind: "int"; value: number }
  | { kind: "float"; value: number }
  | { kind: "string"; value: string }
  | { kind: "ints"; value: readonly number[] };

export interface NodeSpec {
  opType: string;
  name: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attrs: Readonly<Record<string, Attr>>;
}

export interface InitializerSpec {
  name: string;
  dataType: number;
  dims: readonly number[];
  /** Little-endian element bytes (raw_data). */
  raw: Uint8Array;
}

export interface ValueSpec {
  name: string;
  dataType: number;
  dims: readonly Dim[];
}

export interface GraphSpec {
  name: string;
  nodes: readonly NodeSpec[];
  initializers: readonly InitializerSpec[];
  inputs: readonly ValueSpec[];
  outputs: readonly ValueSpec[];
}

const VARINT = 0;
const LEN = 2;
const FIXED32 = 5;
const ATTR_TYPE = { float: 1, int: 2, string: 3, ints: 7 } as const;

type W = protobuf.Writer;
const tag = (w: W, field: number, wire: number) => w.uint32((field << 3) | wire);
const int = (w: W, field: number, v: number) => tag(w, field, VARINT).int64(v);
const str = (w: W, field: number, v: string) => tag(w, field, LEN).string(v);
const msg = (w: W, field: number, body: (w: W) => void) => {
  tag(w, field, LEN).fork();
  body(w);
  w.ldelim();
};

function tensor(w: W, t: InitializerSpec): void {
  for (const d of t.dims) int(w, 1, d);
  int(w, 2, t.dataType);
  str(w, 8, t.name);
  tag(w, 9, LEN).bytes(t.raw);
}

function attribute(w: W, name: string, a: Attr): void {
  str(w, 1, name);
  if (a.kind === "float") tag(w, 2, FIXED32).float(a.value);
  else if (a.kind === "int") int(w, 3, a.value);
  else if (a.kind === "string") str(w, 4, a.value);
  else for (const v of a.value) int(w, 8, v);
  int(w, 20, ATTR_TYPE[a.kind]);
}

function valueInfo(w: W, v: ValueSpec): void {
  str(w, 1, v.name);
  // TypeProto.tensor_type { elem_type, shape { dim { dim_value | dim_param } } }
  msg(w, 2, (type) =>
    msg(type, 1, (t) => {
      int(t, 1, v.dataType);
      msg(t, 2, (shape) => {
        for (const d of v.dims) msg(shape, 1, (dim) => (typeof d === "number" ? int(dim, 1, d) : str(dim, 2, d)));
      });
    }),
  );
}

/** ModelProto bytes (IR 8, default-domain opset `opset`). */
export function encodeOnnxModel(g: GraphSpec, opset = 17): Uint8Array {
  const w = protobuf.Writer.create();
  int(w, 1, 8);
  str(w, 2, "accdiff-stub");
  msg(w, 7, (graph) => {
    for (const n of g.nodes) {
      msg(graph, 1, (node) => {
        for (const i of n.inputs) str(node, 1, i);
        for (const o of n.outputs) str(node, 2, o);
        str(node, 3, n.name);
        str(node, 4, n.opType);
        for (const [k, a] of Object.entries(n.attrs)) msg(node, 5, (m) => attribute(m, k, a));
      });
    }
    str(graph, 2, g.name);
    for (const t of g.initializers) msg(graph, 5, (m) => tensor(m, t));
    for (const v of g.inputs) msg(graph, 11, (m) => valueInfo(m, v));
    for (const v of g.outputs) msg(graph, 12, (m) => valueInfo(m, v));
  });
  msg(w, 8, (o) => {
    str(o, 1, "");
    int(o, 2, opset);
  });
  return w.finish();
}
