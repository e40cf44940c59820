/**
 * The toy world behaves as designed, end to end through onnxruntime: Euler sampling with CFG
 * draws the prompt's things, the attention maps find them, a patch-sized window draws a whole
 * scene, and ControlNet edges pull objects onto them.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { ensureToyWorld } from "./index";
import * as kit from "./testkit";
import { MAX_TOKENS, THINGS } from "./world";

const CAT = 0;
const DOG = 1;
const LAWN = THINGS.length - 1;
const PROMPT = "a cat and a dog on a lawn";

let s: kit.ToySessions;
beforeAll(async () => {
  s = await kit.loadToyWorld(await ensureToyWorld());
});

async function render(opts: kit.SampleOptions) {
  const r = await kit.sampleScene(s, opts);
  const rgb = await kit.decodeLatents(s, r.latents, opts.h, opts.w);
  const classes = kit.classifyPixels(rgb, 8 * opts.h, 8 * opts.w);
  return { ...r, classes, counts: kit.countThings(classes) };
}

/** IoU of two boolean masks. */
function iou(a: ArrayLike<boolean>, b: ArrayLike<boolean>): number {
  let inter = 0;
  let union = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] && b[i]) inter++;
    if (a[i] || b[i]) union++;
  }
  return union === 0 ? 0 : inter / union;
}

describe("the toy world", () => {
  it("draws both named objects on the lawn, and nothing unnamed", async () => {
    for (const seed of [1, 2, 3]) {
      const { counts } = await render({ prompt: PROMPT, h: 64, w: 64, seed });
      const total = 512 * 512;
      expect(counts[CAT] / total, `seed ${seed} cat`).toBeGreaterThan(0.02);
      expect(counts[DOG] / total, `seed ${seed} dog`).toBeGreaterThan(0.02);
      expect(counts[LAWN] / total, `seed ${seed} lawn`).toBeGreaterThan(0.5);
      expect(counts[2] + counts[3], `seed ${seed} ball/tree`).toBe(0);
    }
  });

  it("draws only lawn for a prompt naming only the lawn (a patch prompt with no object)", async () => {
    for (const seed of [1, 2]) {
      const { counts } = await render({ prompt: "a lawn", h: 64, w: 64, seed });
      expect(counts[LAWN]).toBeGreaterThan(0.99 * 512 * 512);
    }
  });

  it("has attention maps whose above-mean region covers each object (IoU >= 0.5)", async () => {
    const words = PROMPT.split(" ");
    for (const seed of [1, 2, 3]) {
      const { classes, attention } = await render({ prompt: PROMPT, h: 64, w: 64, seed });
      for (const [word, thing] of [
        ["cat", CAT],
        ["dog", DOG],
        ["lawn", LAWN],
      ] as const) {
        const token = 1 + words.indexOf(word);
        const map = Array.from({ length: 256 }, (_, p) => attention[p * MAX_TOKENS + token]);
        const mean = map.reduce((a, b) => a + b) / map.length;
        // The object's pixels at attention resolution: 32x32-pixel cells mostly of its colour.
        const truth = map.map((_, p) => {
          let n = 0;
          for (let y = 0; y < 32; y++)
            for (let x = 0; x < 32; x++) if (classes[((p >> 4) * 32 + y) * 512 + (p & 15) * 32 + x] === thing) n++;
          return n > 512;
        });
        expect(
          iou(
            map.map((v) => v > mean),
            truth,
          ),
          `seed ${seed} ${word}`,
        ).toBeGreaterThanOrEqual(0.5);
      }
    }
  });

  it("draws a whole scene in a patch-sized window too (the repetition the paper fights)", async () => {
    for (const seed of [4, 5]) {
      const { counts } = await render({ prompt: PROMPT, h: 32, w: 32, seed });
      const total = 256 * 256;
      expect(counts[CAT] / total, `seed ${seed} cat`).toBeGreaterThan(0.02);
      expect(counts[DOG] / total, `seed ${seed} dog`).toBeGreaterThan(0.02);
    }
  });

  it("ControlNet edges pull the object onto their outline", async () => {
    const size = 512;
    const [y0, y1, x0, x1] = [36 * 8, 52 * 8, 40 * 8, 56 * 8];
    const cond = new Float32Array(3 * size * size);
    for (let c = 0; c < 3; c++)
      for (let y = y0; y < y1; y++)
        for (let x = x0; x < x1; x++)
          if (y === y0 || y === y1 - 1 || x === x0 || x === x1 - 1) cond[c * size * size + y * size + x] = 1;
    const inBox = Array.from({ length: size * size }, (_, p) => {
      const y = Math.floor(p / size);
      const x = p % size;
      return y >= y0 && y < y1 && x >= x0 && x < x1;
    });
    let free = 0;
    let guided = 0;
    const seeds = [1, 2, 3];
    for (const seed of seeds) {
      const opts = { prompt: "a cat on a lawn", h: 64, w: 64, seed };
      const a = await render(opts);
      const b = await render({ ...opts, control: { cond, scale: 1 } });
      free +=
        iou(
          Array.from(a.classes, (c) => c === CAT),
          inBox,
        ) / seeds.length;
      const g = iou(
        Array.from(b.classes, (c) => c === CAT),
        inBox,
      );
      expect(g, `seed ${seed}`).toBeGreaterThan(0.5);
      guided += g / seeds.length;
    }
    expect(free).toBeLessThan(0.2);
    expect(guided).toBeGreaterThan(free + 0.3);
  });

  it("ControlNet edge texture (the canny of a grainy image) is not an outline: the scene keeps its objects", async () => {
    // Short 1-px segments on 8-px block borders over ~7% of the pixels, like auto-canny of a grainy low-res image.
    const size = 512;
    const cond = new Float32Array(3 * size * size);
    let r = 7;
    const rnd = () => {
      r = (r * 1103515245 + 12345) & 0x7fffffff;
      return r / 0x7fffffff;
    };
    const mark = (y: number, x: number) => {
      for (let c = 0; c < 3; c++) cond[c * size * size + y * size + x] = 1;
    };
    for (let by = 0; by < 64; by++) {
      for (let bx = 0; bx < 64; bx++) {
        if (rnd() < 0.3) for (let x = 0; x < 8; x++) mark(by * 8, bx * 8 + x);
        if (rnd() < 0.3) for (let y = 0; y < 8; y++) mark(by * 8 + y, bx * 8);
      }
    }
    for (const seed of [1, 3]) {
      const { counts } = await render({ prompt: PROMPT, h: 64, w: 64, seed, control: { cond, scale: 0.3 } });
      const total = 512 * 512;
      expect(counts[CAT] / total, `seed ${seed} cat`).toBeGreaterThan(0.02);
      expect(counts[DOG] / total, `seed ${seed} dog`).toBeGreaterThan(0.02);
      expect(counts[DOG] / total, `seed ${seed} dog`).toBeLessThan(0.3);
    }
  });
});
