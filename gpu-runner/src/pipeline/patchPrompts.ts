/**
 * Patch-content-aware prompts (AccDiffusion, reference `get_multidiffusion_prompts`): for every
 * upscaling scale s = 2..S the attention-map frame is enlarged s times and tiled with (jittered)
 * windows of the map's size; a word of the prompt goes into a window's prompt when its upscaled mask
 * covers at least a fraction `c` of the window. This keeps, e.g., "a cat" out of the patches that
 * show only sofa, which is what stops small copies of the subject from appearing in every tile.
 *
 * Geometry (rows x cols is the mask as the caller read it; see attention.ts):
 * - reference (quirk `swappedAttentionReshape`): the reference names the mask shape `ori_w, ori_h = mask.shape`,
 *   so the frame is (cols*s) high and (rows*s) wide, the mask is stretched to it by cv2.resize with
 *   dsize (rows*s, cols*s), the jittered mask is zero-padded by int((cols - cols/2)//4), and the
 *   coverage divides by rows*cols. Fed the reference's (map_w, map_h) reading, the frame is the true
 *   (map_h*s, map_w*s) but the mask content is re-read and stretched, and the padding can differ from
 *   the windows' jitter range.
 * - correct (default): the mask is read as (map_h, map_w), the frame is (rows*s, cols*s) (the same
 *   frame, so the same windows and the same random draws), the mask is upscaled by exactly s, padded
 *   by the windows' own jitter range, and the coverage divides by the window's area inside the padded
 *   frame. For square maps both modes give identical results: rows*cols is the window area and both
 *   paddings equal the jitter range.
 * - a frame shorter than the window (a map more elongated than s): the reference's windows start at 0
 *   and reach past it, jittered (quirk `extendAndClipShortAxis`); otherwise they span exactly that axis, undrawn
 *   (views.ts ShortAxis).
 */
import type { ReferenceQuirks } from "@accdiff/shared";
import { resizeNearestU8 } from "./tensor/nearest";
import { getAttentionViews, jitterRange, type RandInt, type View } from "./views";

export interface PatchPromptInput {
  /** Per token position (BOS .. EOS), uint8 0/255 masks of rows x cols (attention.ts tokenMasks). */
  masks: readonly Uint8Array[];
  rows: number;
  cols: number;
  /** Each token position decoded to text, same length as masks; the first and last are skipped. */
  tokens: readonly string[];
  /** Coverage threshold: a word is kept in a window when its coverage ratio >= c. */
  c: number;
  /** Largest scale S; prompts are made for scales 2..S. */
  scaleNum: number;
  /** Window jitter draws (Python random.randint semantics). The reference pipeline always jitters. */
  randInt?: RandInt;
  /** The reference's mask reading and short-axis windows (default: neither). */
  quirks?: Pick<ReferenceQuirks, "swappedAttentionReshape" | "extendAndClipShortAxis">;
}

export interface PatchPrompts {
  /** prompts[s][v]: the prompt of window v at scale s. */
  prompts: Record<number, string[]>;
  /** views[s]: windows in attention-map units (padded frame when jittered). */
  views: Record<number, View[]>;
  /** coverage[s][k][v]: coverage ratio of word k (token position k+1) in window v (float64). */
  coverage: Record<number, Float64Array[]>;
  /** The candidate words, in token order (BOS and EOS excluded). */
  words: string[];
}

/** Python's str.isspace() set (wider than ASCII: includes \x1c-\x1f and \x85, unlike JS's \s). */
function isPyWhitespace(code: number): boolean {
  return (
    (code >= 0x09 && code <= 0x0d) ||
    (code >= 0x1c && code <= 0x20) ||
    code === 0x85 ||
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000
  );
}

/** ' '.join(words) followed by the reference's split()/join: runs of whitespace collapse, empties vanish. */
export function joinWords(kept: readonly string[]): string {
  const text = kept.join(" ");
  const parts: string[] = [];
  let start = -1;
  for (let i = 0; i <= text.length; i++) {
    const ws = i === text.length || isPyWhitespace(text.charCodeAt(i));
    if (ws && start >= 0) {
      parts.push(text.slice(start, i));
      start = -1;
    } else if (!ws && start < 0) {
      start = i;
    }
  }
  return parts.join(" ");
}

/**
 * Summed-area table of a h x w uint8 image into `sat` ((h+1) x (w+1), zero first row and column):
 * entry (y, x) = sum of [0,y) x [0,x). O(1) window sums for every view.
 */
function summedArea(src: Uint8Array, h: number, w: number, sat: Float64Array): Float64Array {
  const sw = w + 1;
  for (let y = 0; y < h; y++) {
    let row = 0;
    const o = y * w;
    const s = (y + 1) * sw;
    for (let x = 0; x < w; x++) {
      row += src[o + x];
      sat[s + x + 1] = sat[s - sw + x + 1] + row;
    }
  }
  return sat;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(Math.max(v, lo), hi);
}

/**
 * Coverage ratios of every word (token positions 1..n-2) in every window at one scale.
 * `pad` is the zero padding of the upscaled mask (0 when not jittered); windows are numpy slices of
 * the padded mask, so they are clipped to it.
 */
export function coverageRatios(
  masks: readonly Uint8Array[],
  rows: number,
  cols: number,
  scale: number,
  views: readonly View[],
  pad: number,
  swappedReshape: boolean,
): Float64Array[] {
  const frameH = (swappedReshape ? cols : rows) * scale;
  const frameW = (swappedReshape ? rows : cols) * scale;
  // The reference divides by ori_h*ori_w whatever the window size.
  return coverageInFrame(masks, rows, cols, frameH, frameW, views, pad, swappedReshape ? rows * cols : null);
}

/**
 * Coverage ratios of every word in every window, each `rows x cols` mask upscaled (nearest) to `frameH x frameW` and
 * zero-padded by `pad`. The denominator is the window's area clipped to the padded frame, or `fixedDenom` when given.
 * Shared by the reference geometry (coverageRatios) and the latent-frame fallback (patchPlan).
 */
export function coverageInFrame(
  masks: readonly Uint8Array[],
  rows: number,
  cols: number,
  frameH: number,
  frameW: number,
  views: readonly View[],
  pad: number,
  fixedDenom: number | null,
): Float64Array[] {
  const paddedH = frameH + 2 * pad;
  const paddedW = frameW + 2 * pad;
  const up = new Uint8Array(frameH * frameW);
  const sat = new Float64Array((frameH + 1) * (frameW + 1));
  const out: Float64Array[] = [];
  for (let k = 1; k < masks.length - 1; k++) {
    resizeNearestU8(masks[k], rows, cols, frameH, frameW, up);
    summedArea(up, frameH, frameW, sat);
    const sw = frameW + 1;
    const ratios = new Float64Array(views.length);
    for (let v = 0; v < views.length; v++) {
      const [h0, h1, w0, w1] = views[v];
      // Slice of the padded mask, in unpadded coordinates; the padding itself contributes zeros.
      const y0 = clamp(h0 - pad, 0, frameH);
      const y1 = clamp(h1 - pad, y0, frameH);
      const x0 = clamp(w0 - pad, 0, frameW);
      const x1 = clamp(w1 - pad, x0, frameW);
      const sum = sat[y1 * sw + x1] - sat[y0 * sw + x1] - sat[y1 * sw + x0] + sat[y0 * sw + x0];
      const denom =
        fixedDenom ?? (clamp(h1, 0, paddedH) - clamp(h0, 0, paddedH)) * (clamp(w1, 0, paddedW) - clamp(w0, 0, paddedW));
      // Masks are 0/255: (mask/255).sum() is exactly the count of 255s.
      ratios[v] = denom > 0 ? sum / 255 / denom : 0;
    }
    out.push(ratios);
  }
  return out;
}

/** Prompts per window from stored coverage ratios: re-derives everything that depends on c. */
export function promptsForThreshold(
  words: readonly string[],
  coverage: Record<number, readonly Float64Array[]>,
  c: number,
): Record<number, string[]> {
  const prompts: Record<number, string[]> = {};
  for (const key of Object.keys(coverage)) {
    const s = Number(key);
    const perWord = coverage[s];
    const nViews = perWord.length > 0 ? perWord[0].length : 0;
    const list: string[] = [];
    for (let v = 0; v < nViews; v++) {
      const kept: string[] = [];
      for (let k = 0; k < perWord.length; k++) if (perWord[k][v] >= c) kept.push(words[k]);
      list.push(joinWords(kept));
    }
    prompts[s] = list;
  }
  return prompts;
}

/**
 * get_multidiffusion_prompts over precomputed masks. The windows of scale s come from
 * utils.get_views on the s-times frame with window max(rows, cols) and float stride window/2; scales
 * are processed in increasing order, so `randInt` sees the reference's draw order.
 */
export function patchPrompts(input: PatchPromptInput): PatchPrompts {
  const { masks, rows, cols, tokens, c, scaleNum, randInt } = input;
  const swapped = input.quirks?.swappedAttentionReshape ?? false;
  const shortAxis = input.quirks?.extendAndClipShortAxis ? "extend" : "fit";
  if (masks.length !== tokens.length) throw new RangeError("patchPrompts: one mask per token position is needed");
  if (masks.length < 2) throw new RangeError("patchPrompts: BOS and EOS positions are required");
  for (const m of masks) if (m.length !== rows * cols) throw new RangeError("patchPrompts: mask size != rows*cols");
  const words = tokens.slice(1, -1);
  const window = Math.max(rows, cols);
  const stride = window / 2;
  const views: Record<number, View[]> = {};
  const coverage: Record<number, Float64Array[]> = {};
  for (let s = 2; s <= scaleNum; s++) {
    const frameH = (swapped ? cols : rows) * s;
    const frameW = (swapped ? rows : cols) * s;
    // A frame shorter than the window (map aspect above s): the reference's windows reach past it, ours fit it.
    const v = getAttentionViews(frameH, frameW, window, stride, randInt, shortAxis);
    let pad = 0;
    if (randInt) {
      // Reference: int((ori_h - ori_h/2) // 4) with ori_h = cols; correct: the windows' own jitter range.
      pad = swapped ? Math.floor((cols - cols / 2) / 4) : Math.floor(jitterRange(window, stride));
    }
    views[s] = v;
    coverage[s] = coverageRatios(masks, rows, cols, s, v, pad, swapped);
  }
  return { prompts: promptsForThreshold(words, coverage, c), views, coverage, words };
}
