import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { readImageHeader } from "./imageHeader";

function png(w: number, h: number): Uint8Array {
  const b = new Uint8Array(33);
  b.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
  new DataView(b.buffer).setUint32(16, w);
  new DataView(b.buffer).setUint32(20, h);
  return b;
}

function jpeg(w: number, h: number): Uint8Array {
  // SOI, an APP0 segment, a DHT segment (not a frame header), then SOF2 (progressive).
  const app0 = [0xff, 0xe0, 0, 16, ...Array(14).fill(0)];
  const dht = [0xff, 0xc4, 0, 4, 0, 0];
  const sof = [0xff, 0xc2, 0, 11, 8, h >> 8, h & 255, w >> 8, w & 255, 3, 0, 0, 0];
  return new Uint8Array([0xff, 0xd8, ...app0, ...dht, ...sof]);
}

function riff(chunk: string, payload: number[]): Uint8Array {
  const head = [..."RIFF"].map((c) => c.charCodeAt(0));
  const webp = [..."WEBP"].map((c) => c.charCodeAt(0));
  const tag = [...chunk].map((c) => c.charCodeAt(0));
  return new Uint8Array([
    ...head,
    0,
    0,
    0,
    0,
    ...webp,
    ...tag,
    payload.length,
    0,
    0,
    0,
    ...payload,
    ...Array(16).fill(0),
  ]);
}

describe("readImageHeader", () => {
  it("reads PNG, JPEG and the three WebP flavours", () => {
    expect(readImageHeader(png(1920, 1080))).toEqual({ format: "png", width: 1920, height: 1080 });
    expect(readImageHeader(jpeg(4000, 3000))).toEqual({ format: "jpeg", width: 4000, height: 3000 });
    // VP8 (lossy): frame tag, start code 9d 01 2a, 14-bit sizes.
    const vp8 = riff("VP8 ", [0, 0, 0, 0x9d, 0x01, 0x2a, 640 & 255, 640 >> 8, 480 & 255, 480 >> 8]);
    expect(readImageHeader(vp8)).toEqual({ format: "webp", width: 640, height: 480 });
    // VP8L (lossless): signature 0x2f, then (w-1) and (h-1) in 14 bits each.
    const bits = (800 - 1) | ((600 - 1) << 14);
    const vp8l = riff("VP8L", [0x2f, bits & 255, (bits >> 8) & 255, (bits >> 16) & 255, (bits >>> 24) & 255]);
    expect(readImageHeader(vp8l)).toEqual({ format: "webp", width: 800, height: 600 });
    // VP8X (extended): 24-bit (w-1) and (h-1).
    const w = 5000 - 1;
    const h = 7000 - 1;
    const vp8x = riff("VP8X", [0, 0, 0, 0, w & 255, (w >> 8) & 255, w >> 16, h & 255, (h >> 8) & 255, h >> 16]);
    expect(readImageHeader(vp8x)).toEqual({ format: "webp", width: 5000, height: 7000 });
  });

  it("refuses anything else, and truncated headers, without throwing", () => {
    expect(readImageHeader(new TextEncoder().encode("GIF89a......"))).toBeNull();
    expect(readImageHeader(png(10, 10).slice(0, 20))).toBeNull();
    expect(readImageHeader(png(0, 10))).toBeNull();
    expect(readImageHeader(jpeg(10, 10).slice(0, 30))).toBeNull();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const h = readImageHeader(bytes);
        if (h) expect(h.width).toBeGreaterThan(0);
      }),
    );
  });
});
