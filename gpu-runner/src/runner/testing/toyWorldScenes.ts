/**
 * Test support: reading the pipeline's own outputs on the toy world. Which thing each pixel of a decoded image shows
 * (the world's colours), how much of a window a thing covers, and the overlap of an attention-map mask with a thing.
 */
import type { RgbImage } from "../../pipeline/params";
import { classifyPixels } from "../../toyworld/testkit";
import { THINGS } from "../../toyworld/world";

/** Index into THINGS of a word of the world ("cat" -> 0), by the things' own word lists. */
export function thingOf(word: string): number {
  const k = THINGS.findIndex((t) => t.words.includes(word));
  if (k < 0) throw new RangeError(`"${word}" names no thing of the toy world`);
  return k;
}

/** Per pixel (row-major) the THINGS index of its colour, -1 where none is near (soft edges). */
export function imageClasses(img: RgbImage): Int8Array {
  const plane = img.width * img.height;
  const rgb = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) rgb[c * plane + p] = img.data[p * 3 + c] / 127.5 - 1;
  }
  return classifyPixels(rgb, img.height, img.width);
}

/** Fraction of the pixels of the image showing `thing`. */
export function areaOf(classes: Int8Array, thing: number): number {
  let n = 0;
  for (let p = 0; p < classes.length; p++) if (classes[p] === thing) n++;
  return n / classes.length;
}

/**
 * IoU between a rows x cols mask (0/255, nearest-upsampled to the image, as the pipeline upsamples masks) and the
 * pixels of the image that show `thing`.
 */
export function maskIoU(
  mask: Uint8Array,
  rows: number,
  cols: number,
  classes: Int8Array,
  height: number,
  width: number,
  thing: number,
): number {
  let inter = 0;
  let union = 0;
  for (let y = 0; y < height; y++) {
    const r = Math.floor((y * rows) / height);
    for (let x = 0; x < width; x++) {
      const m = mask[r * cols + Math.floor((x * cols) / width)] !== 0;
      const t = classes[y * width + x] === thing;
      if (m && t) inter++;
      if (m || t) union++;
    }
  }
  return union === 0 ? 0 : inter / union;
}

/**
 * Fraction of a window [y0, y1) x [x0, x1) (image pixels, may reach outside the image: that part counts as empty,
 * like the zero padding of the patch-prompt masks) that shows `thing`.
 */
export function windowCoverage(
  classes: Int8Array,
  height: number,
  width: number,
  thing: number,
  [y0, y1, x0, x1]: readonly [number, number, number, number],
): number {
  let n = 0;
  for (let y = Math.max(0, y0); y < Math.min(height, y1); y++) {
    for (let x = Math.max(0, x0); x < Math.min(width, x1); x++) if (classes[y * width + x] === thing) n++;
  }
  return n / ((y1 - y0) * (x1 - x0));
}
