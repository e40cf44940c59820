/**
 * Explanatory pictures for the CLI and the demo report: a token's attention mask over the low-res image, and the
 * patch grid of a phase with each patch's prompt.
 */
import sharp from "sharp";
import type { Rgb8 } from "./encode";

function toBytes(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * The image dimmed where the (nearest-upscaled) mask is off and tinted where it is on.
 * `mask` is mapH x mapW, non-zero = on.
 */
export async function maskOverlay(image: Rgb8, mask: Uint8Array, mapH: number, mapW: number): Promise<Uint8Array> {
  const { width, height, data } = image;
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const my = Math.min(mapH - 1, Math.floor((y * mapH) / height));
    for (let x = 0; x < width; x++) {
      const mx = Math.min(mapW - 1, Math.floor((x * mapW) / width));
      const on = mask[my * mapW + mx] !== 0;
      const i = (y * width + x) * 3;
      if (on) {
        out[i] = Math.min(255, data[i] * 0.6 + 102);
        out[i + 1] = data[i + 1] * 0.6;
        out[i + 2] = data[i + 2] * 0.6;
      } else {
        out[i] = data[i] * 0.25;
        out[i + 1] = data[i + 1] * 0.25;
        out[i + 2] = data[i + 2] * 0.25;
      }
    }
  }
  return toBytes(
    await sharp(out, { raw: { width, height, channels: 3 } })
      .png()
      .toBuffer(),
  );
}

const escapeXml = (s: string) => s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

export interface PatchBox {
  /** Pixel rectangle in the image. */
  top: number;
  left: number;
  bottom: number;
  right: number;
  prompt: string;
}

/** The image with every patch outlined and labelled with its prompt (text needs a font on the system). */
export async function patchGridPicture(image: Rgb8, boxes: PatchBox[]): Promise<Uint8Array> {
  const { width, height } = image;
  const hues = [0, 40, 120, 200, 280, 320];
  const font = Math.max(10, Math.round(Math.min(width, height) / 48));
  const parts = boxes.map((b, i) => {
    const colour = `hsl(${hues[i % hues.length]},90%,60%)`;
    const label = escapeXml(b.prompt || "(empty)");
    return (
      `<rect x="${b.left + 1}" y="${b.top + 1}" width="${Math.max(1, b.right - b.left - 2)}" height="${Math.max(1, b.bottom - b.top - 2)}" fill="none" stroke="${colour}" stroke-width="2"/>` +
      `<text x="${b.left + 4}" y="${b.top + font + 2}" font-family="sans-serif" font-size="${font}" fill="${colour}" stroke="black" stroke-width="0.5">${label}</text>`
    );
  });
  const svg = Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${parts.join("")}</svg>`,
  );
  const out = await sharp(image.data, { raw: { width, height, channels: 3 } })
    .composite([{ input: svg, top: 0, left: 0 }])
    .png()
    .toBuffer();
  return toBytes(out);
}
