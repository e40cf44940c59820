/**
 * The tensor-manifest folders of the real-architecture data: `manifest.json` = `{"tensors": {name: {"shape",
 * "dtype", "file"}}, "meta": {...}}`, each file a raw little-endian C-order array. `../shared/real-arch/reference/*`
 * (what the reference computed) and the exporter's smoke cases (`tools/sdxl-bundle/sdxl_bundle/case_files.py`) use it.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

export type ManifestDtype = "float32" | "float16" | "int32" | "int64";

export interface ManifestTensor {
  name: string;
  shape: number[];
  dtype: ManifestDtype;
  /** float32 / int32 as stored; float16 as its Uint16 bits; int64 as BigInt64Array. */
  data: Float32Array | Uint16Array | Int32Array | BigInt64Array;
}

export interface TensorManifest {
  dir: string;
  tensors: Map<string, ManifestTensor>;
  // biome-ignore lint/suspicious/noExplicitAny: free-form JSON written by the recorder
  meta: Record<string, any>;
}

const ELEMENT_BYTES: Record<ManifestDtype, number> = { float32: 4, float16: 2, int32: 4, int64: 8 };

export function readTensorManifest(dir: string): TensorManifest {
  const path = join(dir, "manifest.json");
  let raw: { tensors?: Record<string, { shape: number[]; dtype: ManifestDtype; file: string }>; meta?: object };
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
  if (!raw.tensors || typeof raw.tensors !== "object") throw new Error(`${path}: no "tensors" object`);
  const tensors = new Map<string, ManifestTensor>();
  for (const [name, t] of Object.entries(raw.tensors)) {
    const bytes = ELEMENT_BYTES[t.dtype];
    if (!bytes) throw new Error(`${path}: ${name}: dtype ${t.dtype} (float32, float16, int32, int64)`);
    const buf = readFileSync(join(dir, t.file));
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (buf.byteLength !== count * bytes) {
      throw new Error(
        `${path}: ${name}: ${t.file} has ${buf.byteLength} bytes, shape [${t.shape}] needs ${count * bytes}`,
      );
    }
    // Copy into an aligned buffer (Node's file buffers may share a pool at any offset).
    const ab = new ArrayBuffer(buf.byteLength);
    new Uint8Array(ab).set(buf);
    const data =
      t.dtype === "float32"
        ? new Float32Array(ab)
        : t.dtype === "float16"
          ? new Uint16Array(ab)
          : t.dtype === "int32"
            ? new Int32Array(ab)
            : new BigInt64Array(ab);
    tensors.set(name, { name, shape: t.shape, dtype: t.dtype, data });
  }
  return { dir, tensors, meta: (raw.meta ?? {}) as TensorManifest["meta"] };
}

/** The named tensor; a clear error naming the folder when it is missing. */
export function tensorOf(m: TensorManifest, name: string): ManifestTensor {
  const t = m.tensors.get(name);
  if (!t) throw new Error(`${m.dir}: no tensor '${name}' in manifest.json`);
  return t;
}

export function f32Of(m: TensorManifest, name: string): Float32Array {
  const t = tensorOf(m, name);
  if (t.dtype !== "float32") throw new Error(`${m.dir}: ${name} is ${t.dtype}, expected float32`);
  return t.data as Float32Array;
}

export function i32Of(m: TensorManifest, name: string): Int32Array {
  const t = tensorOf(m, name);
  if (t.dtype !== "int32") throw new Error(`${m.dir}: ${name} is ${t.dtype}, expected int32`);
  return t.data as Int32Array;
}
