/**
 * The attention grid rule against the judge: diffusers' own UNet and ControlNet (the tiny real SDXL in
 * ../shared/real-arch, run by tools/sdxl-bundle/probes/latent_grid.py with Debian's PyTorch). Skipped, saying why,
 * where that checkout, /usr/bin/python3 or its torch and diffusers are missing.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { attentionGrid } from "@accdiff/shared";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../../..");
const REAL_ARCH = resolve(ROOT, "../shared/real-arch");
const PYTHON = "/usr/bin/python3";
const SDXL = { attentionDivisor: 32, vaeScaleFactor: 8 };

function pythonEnv(home: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PYTHONPATH: join(REAL_ARCH, "pydeps"),
    HF_HUB_OFFLINE: "1",
    TRANSFORMERS_OFFLINE: "1",
    HF_HOME: home,
  };
}

function unavailable(): string | null {
  if (!existsSync(join(REAL_ARCH, "models/tiny-sdxl/unet"))) return `${REAL_ARCH} is missing`;
  if (!existsSync(PYTHON)) return `${PYTHON} is missing`;
  const home = mkdtempSync(join(tmpdir(), "hf-"));
  const r = spawnSync(PYTHON, ["-c", "import torch, diffusers"], { env: pythonEnv(home), encoding: "utf8" });
  rmSync(home, { recursive: true, force: true });
  return r.status === 0 ? null : `torch/diffusers do not import: ${r.stderr.trim().split("\n").pop()}`;
}

const why = unavailable();
if (why) console.warn(`realArchGrid.test.ts skipped: ${why}`);

// Phase-1 latents of 3:2, 2:3, 1:1 at 1280 and 1000, 16:9, 4:1 on the toy world's 512 base, their SDXL (1024) twins,
// a 4:3 sub-latent of dilated sampling, and sides under one attention cell.
const SIZES: [number, number][] = [
  [42, 64],
  [64, 42],
  [64, 64],
  [63, 63],
  [36, 64],
  [16, 64],
  [43, 85],
  [25, 25],
  [1, 1],
  [3, 5],
];

interface Probe {
  out?: number[];
  finite?: boolean;
  residuals?: number[][];
  cross: Record<string, number[]>;
  error?: string;
}

describe.skipIf(why !== null)("the attention grid is the real SDXL architecture's (diffusers' UNet)", () => {
  it("takes every latent size, with ceil(h/4) x ceil(w/4) cross-attention in the down and up blocks", () => {
    const home = mkdtempSync(join(tmpdir(), "hf-"));
    let r: ReturnType<typeof spawnSync>;
    try {
      r = spawnSync(
        PYTHON,
        [
          join(ROOT, "tools/sdxl-bundle/probes/latent_grid.py"),
          join(REAL_ARCH, "models"),
          ...SIZES.map(([h, w]) => `${h}x${w}`),
        ],
        { env: pythonEnv(home), encoding: "utf8", maxBuffer: 1 << 24, timeout: 240_000 },
      );
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
    expect(r.status, String(r.stderr)).toBe(0);
    const probes = JSON.parse(String(r.stdout)) as Record<string, Probe>;
    for (const [h, w] of SIZES) {
      const p = probes[`${h}x${w}`];
      expect(p.error, `${h}x${w}`).toBeUndefined();
      expect(p.out, `${h}x${w}`).toEqual([2, 4, h, w]);
      expect(p.finite, `${h}x${w}: non-finite residuals or noise prediction`).toBe(true);
      const g4 = attentionGrid(SDXL, h, w);
      const g2 = attentionGrid({ attentionDivisor: 16, vaeScaleFactor: 8 }, h, w);
      // The tiny UNet has SDXL's two down-samplers: cross-attention at 1/2 and 1/4 (the reference's layers).
      expect(p.cross.down, `${h}x${w}`).toEqual(
        [...new Set([g4.mapH * g4.mapW, g2.mapH * g2.mapW])].sort((a, b) => a - b),
      );
      expect(p.cross.up).toEqual(p.cross.down);
      expect(p.cross.mid).toEqual([g4.mapH * g4.mapW]);
      // The ControlNet's residuals: 3 at 1, 3 at 1/2, 3 at 1/4 and the mid at 1/4, each side rounded up.
      const at = (f: number) => [Math.ceil(h / f), Math.ceil(w / f)];
      expect(p.residuals).toEqual([1, 1, 1, 2, 2, 2, 4, 4, 4, 4].map(at));
    }
  }, 300_000);
});
