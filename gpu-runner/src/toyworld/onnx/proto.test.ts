import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ProtoWriter } from "./proto";

/** Minimal reader for the test: (field, wire, value) triples of one message. */
function readFields(buf: Uint8Array): { field: number; wire: number; value: bigint | Uint8Array | number }[] {
  const out: { field: number; wire: number; value: bigint | Uint8Array | number }[] = [];
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const b = buf[pos++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (pos < buf.length) {
    const tag = Number(varint());
    const field = tag >> 3;
    const wire = tag & 7;
    if (wire === 0) out.push({ field, wire, value: varint() });
    else if (wire === 2) {
      const len = Number(varint());
      out.push({ field, wire, value: buf.slice(pos, pos + len) });
      pos += len;
    } else if (wire === 5) {
      out.push({ field, wire, value: new DataView(buf.buffer, buf.byteOffset + pos, 4).getFloat32(0, true) });
      pos += 4;
    } else throw new Error(`wire ${wire}`);
  }
  return out;
}

describe("ProtoWriter", () => {
  it("encodes varints as protobuf does", () => {
    expect([...new ProtoWriter().int(1, 150).finish()]).toEqual([0x08, 0x96, 0x01]);
    expect([...new ProtoWriter().int(2, 0).finish()]).toEqual([0x10, 0x00]);
    // Negative int64: ten bytes of two's complement.
    expect([...new ProtoWriter().int(1, -1).finish()]).toEqual([
      0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    ]);
  });

  it("encodes strings, floats and nested messages", () => {
    const buf = new ProtoWriter()
      .string(1, "hi")
      .float(2, 1.5)
      .message(3, (m) => m.int(1, 7))
      .finish();
    expect([...buf]).toEqual([0x0a, 0x02, 0x68, 0x69, 0x15, 0x00, 0x00, 0xc0, 0x3f, 0x1a, 0x02, 0x08, 0x07]);
  });

  it("round-trips any safe integer and float through a reader", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 500 }), fc.maxSafeInteger(), fc.float({ noNaN: true })), {
          maxLength: 20,
        }),
        (entries) => {
          const w = new ProtoWriter();
          for (const [field, i, f] of entries) w.int(field, i).float(field, f);
          const fields = readFields(w.finish());
          expect(fields.length).toBe(2 * entries.length);
          entries.forEach(([field, i, f], k) => {
            expect(fields[2 * k].field).toBe(field);
            expect(BigInt.asIntN(64, fields[2 * k].value as bigint)).toBe(BigInt(i));
            expect(fields[2 * k + 1].value).toBe(Math.fround(f));
          });
        },
      ),
    );
  });

  it("grows its buffer for large payloads", () => {
    const big = new Uint8Array(100_000).map((_, i) => i & 0xff);
    const fields = readFields(new ProtoWriter().bytes(9, big).finish());
    expect(fields).toHaveLength(1);
    expect(Buffer.from(fields[0].value as Uint8Array).equals(Buffer.from(big))).toBe(true);
  });
});
