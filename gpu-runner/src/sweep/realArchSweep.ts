/**
 * The size sweep's smaller grid for the exported tiny real-architecture bundle (realarch/realArch.test.ts runs it on
 * the models it already loaded, so the export is not repeated): diffusers' own UNet, ControlNet and VAE through our
 * exporter and onnxruntime-node, at the sweep's 128-px base (harness.ts `atBase`), 2 steps. The cases are the generate
 * sweep's shapes at one long side each (sizeSweep.ts, offset 2) within 256x192 px of area, every 3:2 / 2:3 one
 * regardless (the photos users upload), and one 3:2 upscale from an odd-sized upload. The weights are random, so a
 * window's prompt may name no word (empty, as the reference makes it); one prompt per window is still required.
 */
import { sweepSizes } from "@accdiff/shared";
import type { Models } from "../models/types";
import { atBase, EmbeddingLru, renderAndCheck, SWEEP_BASE, SWEEP_LIMITS, type SweepCase } from "./harness";

export function realArchSweepCases(): SweepCase[] {
  const photo = (r: string) => r === "3:2" || r === "2:3";
  const generate = sweepSizes(SWEEP_LIMITS, 1, 2).filter((s) => s.width * s.height <= 256 * 192 || photo(s.ratio));
  const up = sweepSizes(SWEEP_LIMITS, 3, 0).find((s) => s.ratio === "3:2" && s.width === 2 * SWEEP_BASE);
  if (!up) throw new Error("the sweep grid has no 3:2 size at 2x the base");
  return [...generate, { ...up, upload: { width: Math.round(up.width * 0.47), height: Math.round(up.height * 0.47) } }];
}

/** Renders every case on `models` (the real-architecture bundle at its own base) moved to the sweep's base. */
export async function runRealArchSweep(models: Models): Promise<string[]> {
  const small = atBase(models, SWEEP_BASE);
  const cache = new EmbeddingLru();
  const done: string[] = [];
  for (const c of realArchSweepCases()) {
    await renderAndCheck(small, c, cache, false);
    done.push(`${c.width}x${c.height}`);
  }
  return done;
}
