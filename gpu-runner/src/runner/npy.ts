/**
 * NumPy's .npy format for float32 tensors (latents, attention maps): what `numpy.load` reads, so cached artifacts can
 * be inspected with Python next to the reference implementation.
 *
 * Layout: magic "\x93NUMPY", version (1.0, or 2.0/3.0 when reading), header length (uint16 LE for 1.0, uint32 LE
 * after), an ASCII Python dict {'descr': '<f4', 'fortran_order': False, 'shape': (...), } padded with spaces and a
 * final newline so the data starts 64-byte aligned, then the values little-endian in C order.
 */

export interface NpyArray {
  data: Float32Array;
  shape: number[];
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const ALIGN = 64;
/** Float32Array memory order of this machine; byte copies are exact (NaN payloads included) and fast. */
const HOST_LE = new Uint8Array(Float32Array.of(1).buffer)[3] === 0x3f;

export class NpyFormatError extends Error {
  override name = "NpyFormatError";
}

function count(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** The shape as Python writes a tuple: "()", "(5,)", "(1, 4, 64, 64)". */
function shapeTuple(shape: readonly number[]): string {
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(", ")})`;
}

/** Encodes a float32 array of the given shape (C order) as .npy version 1.0. */
export function encodeNpy(data: Float32Array, shape: readonly number[]): Uint8Array {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new RangeError(`encodeNpy: bad dimension ${d}`);
  }
  if (count(shape) !== data.length) {
    throw new RangeError(`encodeNpy: ${data.length} values for shape [${shape.join(", ")}]`);
  }
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeTuple(shape)}, }`;
  const preamble = MAGIC.length + 2 + 2;
  // Pad with spaces so that preamble + header (newline included) is a multiple of ALIGN.
  const headerLen = Math.ceil((preamble + dict.length + 1) / ALIGN) * ALIGN - preamble;
  if (headerLen > 0xffff) throw new RangeError("encodeNpy: header too long for version 1.0");
  const out = new Uint8Array(preamble + headerLen + data.length * 4);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  out[8] = headerLen & 0xff;
  out[9] = headerLen >> 8;
  const header = dict.padEnd(headerLen - 1, " ");
  for (let i = 0; i < header.length; i++) out[preamble + i] = header.charCodeAt(i);
  out[preamble + headerLen - 1] = 0x0a;
  if (HOST_LE) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), preamble + headerLen);
  } else {
    const view = new DataView(out.buffer, preamble + headerLen);
    for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i], true);
  }
  return out;
}

/** Decodes a little-endian float32, C-order .npy file (versions 1.0-3.0). */
export function decodeNpy(bytes: Uint8Array): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw new NpyFormatError("not a .npy file");
  const major = bytes[6];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = dv.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new NpyFormatError("truncated .npy header");
    headerLen = dv.getUint32(8, true);
    start = 12;
  } else {
    throw new NpyFormatError(`unsupported .npy version ${major}`);
  }
  if (start + headerLen > bytes.length) throw new NpyFormatError("truncated .npy header");
  let header = "";
  for (let i = 0; i < headerLen; i++) header += String.fromCharCode(bytes[start + i]);
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new NpyFormatError(`malformed .npy header: ${header.trim()}`);
  }
  if (descr !== "<f4") throw new NpyFormatError(`expected little-endian float32 ('<f4'), found '${descr}'`);
  if (fortran === "True") throw new NpyFormatError("Fortran-order arrays are not supported");
  const shape = shapeText
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .map((s) => {
      const d = Number(s.replace(/L$/, ""));
      if (!Number.isInteger(d) || d < 0) throw new NpyFormatError(`bad dimension '${s}' in .npy shape`);
      return d;
    });
  const n = count(shape);
  const offset = start + headerLen;
  if (bytes.length - offset !== n * 4) {
    throw new NpyFormatError(
      `.npy data has ${bytes.length - offset} bytes, shape (${shape.join(", ")}) needs ${n * 4}`,
    );
  }
  const data = new Float32Array(n);
  if (HOST_LE) {
    new Uint8Array(data.buffer).set(bytes.subarray(offset, offset + n * 4));
  } else {
    const body = new DataView(bytes.buffer, bytes.byteOffset + offset, n * 4);
    for (let i = 0; i < n; i++) data[i] = body.getFloat32(i * 4, true);
  }
  return { data, shape };
}

export const NPY_CONTENT_TYPE = "application/x-npy";
