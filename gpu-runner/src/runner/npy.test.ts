import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeNpy, encodeNpy, NpyFormatError } from "./npy";

/** What numpy 1.x/2.x writes for np.save(f, np.arange(6, dtype='<f4').reshape(2, 3)). */
function numpyArange23(): Uint8Array {
  const header = `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.padEnd(117, " ");
  const head = [0x93, ...Buffer.from("NUMPY"), 1, 0, 118, 0, ...Buffer.from(header), 0x0a];
  const body = new Uint8Array(Float32Array.from([0, 1, 2, 3, 4, 5]).buffer);
  return Uint8Array.from([...head, ...body]);
}

describe("npy", () => {
  it("writes exactly what numpy writes", () => {
    const ours = encodeNpy(Float32Array.from([0, 1, 2, 3, 4, 5]), [2, 3]);
    expect(Buffer.from(ours).equals(Buffer.from(numpyArange23()))).toBe(true);
  });

  it("reads numpy's file", () => {
    const a = decodeNpy(numpyArange23());
    expect(a.shape).toEqual([2, 3]);
    expect([...a.data]).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it("aligns the data to 64 bytes and writes 1-d shapes as Python tuples", () => {
    const b = encodeNpy(Float32Array.of(1.5), [1]);
    expect((b.length - 4) % 64).toBe(0);
    expect(new TextDecoder().decode(b.subarray(10, 70))).toContain("'shape': (1,)");
    expect(decodeNpy(b).shape).toEqual([1]);
  });

  it("round-trips any float32 tensor bit for bit", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 0, maxLength: 4 }),
        fc.integer(),
        (shape, seed) => {
          const n = shape.reduce((a, b) => a * b, 1);
          const bits = new Uint32Array(n);
          let s = seed >>> 0;
          for (let i = 0; i < n; i++) {
            s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
            bits[i] = s;
          }
          const data = new Float32Array(bits.buffer);
          const back = decodeNpy(encodeNpy(data, shape));
          expect(back.shape).toEqual(shape);
          // Compare bit patterns: NaN payloads and -0 must survive too.
          expect([...new Uint32Array(back.data.buffer)]).toEqual([...bits]);
        },
      ),
    );
  });

  it("reads a version 2.0 header", () => {
    const v1 = encodeNpy(Float32Array.of(7, 8), [2]);
    const headerLen = v1[8] | (v1[9] << 8);
    const v2 = new Uint8Array(v1.length + 2);
    v2.set(v1.subarray(0, 8));
    v2[6] = 2;
    new DataView(v2.buffer).setUint32(8, headerLen, true);
    v2.set(v1.subarray(10), 12);
    expect([...decodeNpy(v2).data]).toEqual([7, 8]);
  });

  it("refuses what it cannot read, saying why", () => {
    expect(() => decodeNpy(new Uint8Array([1, 2, 3]))).toThrow(NpyFormatError);
    const f8 = numpyArange23();
    f8.set(Buffer.from("<f8"), Buffer.from(f8).indexOf("<f4"));
    expect(() => decodeNpy(f8)).toThrow(/float32/);
    expect(() => decodeNpy(numpyArange23().subarray(0, 140))).toThrow(/bytes/);
    const fortran = numpyArange23();
    fortran.set(Buffer.from("True, "), Buffer.from(fortran).indexOf("False"));
    expect(() => decodeNpy(fortran)).toThrow(/Fortran/);
    expect(() => encodeNpy(new Float32Array(5), [2, 3])).toThrow(RangeError);
  });
});
