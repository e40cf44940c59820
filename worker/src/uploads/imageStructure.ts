/**
 * Is an uploaded image whole? The header (imageHeader.ts) says what an image claims to be; this walks the whole file
 * before it is stored or priced, so that a truncated or damaged upload is refused at once (422) instead of failing on
 * the runner, after the job was accepted. PNG: every chunk in bounds with its CRC, IHDR first and valid, IDAT data
 * that inflates to exactly the rows the header announces, and IEND. JPEG: every segment in bounds, a frame header,
 * scan data, and the end-of-image marker. WebP: the RIFF size and every chunk in bounds, with an image chunk.
 */
import type { ImageFormat } from "@accdiff/shared";

const be32 = (b: Uint8Array, o: number) => ((b[o] << 24) >>> 0) + ((b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]);
const le32 = (b: Uint8Array, o: number) => (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
const ascii = (b: Uint8Array, o: number, n: number) => String.fromCharCode(...b.subarray(o, o + n));

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]) & 255] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };
/** Adam7 passes: first column, first row, column step, row step. */
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
];

/** Bytes the IDAT stream must inflate to: each row of each pass, with its filter byte. */
function pngRawBytes(width: number, height: number, bitsPerPixel: number, interlaced: boolean): number {
  const rows = (w: number, h: number) => (w > 0 && h > 0 ? h * (1 + Math.ceil((w * bitsPerPixel) / 8)) : 0);
  if (!interlaced) return rows(width, height);
  let total = 0;
  for (const [x0, y0, dx, dy] of ADAM7) total += rows(Math.ceil((width - x0) / dx), Math.ceil((height - y0) / dy));
  return total;
}

/** Inflates a zlib stream and checks it ends after exactly `expected` bytes (stops early when it runs over). */
async function inflatesTo(parts: Uint8Array[], expected: number): Promise<string | null> {
  const ds = new DecompressionStream("deflate");
  const writer = ds.writable.getWriter();
  const writing = (async () => {
    for (const p of parts) await writer.write(p);
    await writer.close();
  })().catch(() => undefined);
  const reader = ds.readable.getReader();
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > expected) {
        await reader.cancel().catch(() => undefined);
        return "its image data is longer than its size says";
      }
    }
  } catch {
    return "its image data does not decompress (truncated or damaged)";
  } finally {
    await writing;
  }
  return total === expected ? null : `its image data ends after ${total} of ${expected} bytes`;
}

async function png(b: Uint8Array): Promise<string | null> {
  let o = 8;
  let ihdr: { width: number; height: number; bpp: number; interlaced: boolean } | null = null;
  const idat: Uint8Array[] = [];
  for (;;) {
    if (o + 12 > b.length) return "it ends before its IEND chunk (truncated)";
    const len = be32(b, o);
    const type = ascii(b, o + 4, 4);
    if (len > 0x7fffffff || o + 12 + len > b.length) return `it ends inside its ${type} chunk (truncated)`;
    if (crc32(b.subarray(o + 4, o + 8 + len)) !== be32(b, o + 8 + len)) return `its ${type} chunk fails its CRC`;
    const data = b.subarray(o + 8, o + 8 + len);
    if (!ihdr) {
      if (type !== "IHDR" || len !== 13) return "it does not start with an IHDR chunk";
      const [depth, color, compression, filter, interlace] = data.subarray(8, 13);
      if (!DEPTHS[color]?.includes(depth) || compression !== 0 || filter !== 0 || interlace > 1) {
        return "its IHDR chunk is invalid";
      }
      ihdr = { width: be32(data, 0), height: be32(data, 4), bpp: depth * CHANNELS[color], interlaced: interlace === 1 };
    } else if (type === "IDAT") {
      idat.push(data);
    } else if (type === "IEND") {
      break;
    }
    o += 12 + len;
  }
  if (idat.length === 0) return "it has no image data (IDAT)";
  return inflatesTo(idat, pngRawBytes(ihdr.width, ihdr.height, ihdr.bpp, ihdr.interlaced));
}

function jpeg(b: Uint8Array): string | null {
  let o = 2;
  let frame = false;
  let scans = 0;
  while (o + 2 <= b.length) {
    if (b[o] !== 0xff) return "a segment does not start with a marker (damaged)";
    const marker = b[o + 1];
    if (marker === 0xff) {
      o++;
      continue;
    }
    if (marker === 0xd9) return frame && scans > 0 ? null : "it ends before any image data";
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      o += 2;
      continue;
    }
    if (o + 4 > b.length) break;
    const len = (b[o + 2] << 8) | b[o + 3];
    if (len < 2 || o + 2 + len > b.length) return "it ends inside a segment (truncated)";
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) frame = true;
    o += 2 + len;
    if (marker === 0xda) {
      if (!frame) return "its scan comes before its frame header";
      scans++;
      // Entropy-coded data runs to the next marker that is neither a stuffed 0xFF00 nor a restart marker.
      while (o + 1 < b.length && !(b[o] === 0xff && b[o + 1] !== 0 && (b[o + 1] < 0xd0 || b[o + 1] > 0xd7))) o++;
    }
  }
  return "it ends before its end-of-image marker (truncated)";
}

function webp(b: Uint8Array): string | null {
  const size = le32(b, 4);
  if (size % 2 === 1 || size < 4) return "its RIFF size is invalid";
  if (8 + size > b.length) return "it is shorter than its RIFF size (truncated)";
  let o = 12;
  let image = false;
  while (o < 8 + size) {
    if (o + 8 > 8 + size) return "it ends inside a chunk header (truncated)";
    const fourcc = ascii(b, o, 4);
    const len = le32(b, o + 4);
    if (o + 8 + len > 8 + size) return `it ends inside its ${fourcc.trim()} chunk (truncated)`;
    if (fourcc === "VP8 " || fourcc === "VP8L" || fourcc === "ANMF") image = true;
    o += 8 + len + (len % 2);
  }
  return image ? null : "it has no image chunk";
}

/** Why the image is incomplete or damaged, or null when it is whole. */
export async function structuralProblem(bytes: Uint8Array, format: ImageFormat): Promise<string | null> {
  if (format === "png") return png(bytes);
  if (format === "jpeg") return jpeg(bytes);
  return webp(bytes);
}
