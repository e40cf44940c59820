/**
 * Side-by-side pictures: one montage per seed, the low-res image first, then every setting, each tile captioned
 * with its name and scores.
 */
import sharp from "sharp";
import type { Rgb8Image } from "./scores";

export interface Tile {
  image: Rgb8Image;
  title: string;
  caption: string;
}

const escapeXml = (s: string) => s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** Tiles of `tile` px (nearest resampling, so seams and dither stay visible) in rows of `columns`. */
export async function montage(tiles: readonly Tile[], tile = 384, columns = 6): Promise<Uint8Array> {
  const pad = 8;
  const captionH = 40;
  const cellW = tile + pad;
  const cellH = tile + captionH + pad;
  const rows = Math.ceil(tiles.length / columns);
  const width = columns * cellW + pad;
  const height = rows * cellH + pad;
  const layers: sharp.OverlayOptions[] = [];
  const text: string[] = [];
  for (let i = 0; i < tiles.length; i++) {
    const t = tiles[i];
    const left = pad + (i % columns) * cellW;
    const top = pad + Math.floor(i / columns) * cellH;
    const input = await sharp(t.image.data, { raw: { width: t.image.width, height: t.image.height, channels: 3 } })
      .resize(tile, tile, { kernel: "nearest", fit: "fill" })
      .png()
      .toBuffer();
    layers.push({ input, left, top: top + captionH });
    text.push(
      `<text x="${left}" y="${top + 16}" font-family="sans-serif" font-size="15" font-weight="bold">${escapeXml(t.title)}</text>`,
      `<text x="${left}" y="${top + 34}" font-family="sans-serif" font-size="13">${escapeXml(t.caption)}</text>`,
    );
  }
  const svg = Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${text.join("")}</svg>`,
  );
  layers.push({ input: svg, left: 0, top: 0 });
  const out = await sharp({ create: { width, height, channels: 3, background: "#ffffff" } })
    .composite(layers)
    .png()
    .toBuffer();
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}
