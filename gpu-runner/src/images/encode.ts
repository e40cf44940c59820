/** Image encoding with sharp: uint8 RGB (HWC) to PNG, WebP or JPEG, and decoding back. */
import sharp from "sharp";

export interface Rgb8 {
  data: Uint8Array;
  width: number;
  height: number;
}

export type EncodeFormat = "png" | "webp" | "jpeg";

export const CONTENT_TYPES: Record<EncodeFormat, string> = { png: "image/png", webp: "image/webp", jpeg: "image/jpeg" };

export async function encodeImage(img: Rgb8, format: EncodeFormat = "png"): Promise<Uint8Array> {
  if (img.data.length !== img.width * img.height * 3) {
    throw new Error(`encodeImage: ${img.data.length} bytes for ${img.width}x${img.height}x3`);
  }
  const s = sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } });
  const out =
    format === "png"
      ? await s.png({ compressionLevel: 6 }).toBuffer()
      : format === "webp"
        ? await s.webp({ quality: 92 }).toBuffer()
        : await s.jpeg({ quality: 92, mozjpeg: true }).toBuffer();
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** A single-channel uint8 image (masks, edge maps) as PNG. */
export async function encodeGray(data: Uint8Array, width: number, height: number): Promise<Uint8Array> {
  const out = await sharp(data, { raw: { width, height, channels: 1 } })
    .png()
    .toBuffer();
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** Decodes any image sharp reads (PNG, JPEG, WebP) to uint8 RGB, dropping alpha (composited on black). */
export async function decodeImage(bytes: Uint8Array, limits: { maxPixels?: number } = {}): Promise<Rgb8> {
  const { data, info } = await sharp(bytes, { limitInputPixels: limits.maxPixels ?? 8192 * 8192 })
    .removeAlpha()
    .toColourspace("srgb")
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`decodeImage: expected 3 channels, got ${info.channels}`);
  return {
    data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    width: info.width,
    height: info.height,
  };
}
