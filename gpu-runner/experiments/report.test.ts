import { describe, expect, it } from "vitest";
import { strength } from "./notes";
import { aggregate, checkClaims, resultsJson, resultsMarkdown, stat } from "./report";
import type { RunRecord } from "./run";
import type { Scores } from "./scores";
import { DEFAULT_CONFIG } from "./settings";

const img = { data: new Uint8Array(3), width: 1, height: 1 };
const rec = (setting: string, seed: number, s: Partial<Scores>): RunRecord => ({
  setting,
  seed,
  scores: { repetition: 0, structure: 0.8, speckle: 1, instances: 2, ...s },
  image: img,
  lowres: img,
  patchPrompts: [],
  unetSamples: 10,
  seconds: 1,
});

describe("report", () => {
  it("stat: mean and unbiased std", () => {
    expect(stat([1, 2, 3])).toEqual({ mean: 2, std: 1 });
    expect(stat([5])).toEqual({ mean: 5, std: 0 });
  });

  it("aggregates per setting in SETTINGS order and checks the claims seed by seed", () => {
    const records = [
      rec("patch-prompts", 1, { repetition: 0 }),
      rec("identical-prompts", 1, { repetition: 4 }),
      rec("identical-prompts", 2, { repetition: 6 }),
      rec("patch-prompts", 2, { repetition: 0 }),
      rec("patch-prompts+controlnet", 1, { structure: 0.7 }),
      rec("patch-prompts+controlnet", 2, { structure: 0.9 }),
    ];
    const settings = aggregate(records);
    expect(settings.map((s) => s.name)).toEqual(["identical-prompts", "patch-prompts", "patch-prompts+controlnet"]);
    expect(settings[0].scores.repetition.mean).toBe(5);
    expect(settings[0].seeds).toEqual([1, 2]);
    const claims = checkClaims(settings);
    const appears = claims.find((c) => c.test === "identical-prompts > 0");
    expect(appears).toMatchObject({ holds: true, seedWins: 2, seeds: 2 });
    const suppress = claims.find((c) => c.test === "patch-prompts < identical-prompts");
    expect(suppress).toMatchObject({ holds: true, seedWins: 2, means: [0, 5] });
    expect(strength(suppress!, settings)).toBe("clear");
    // Structure 0.8 (mean) vs 0.8: equal means do not hold; one seed better, one worse.
    const cn = claims.find((c) => c.score === "structure" && c.test.startsWith("patch-prompts+controlnet >"));
    expect(cn).toMatchObject({ holds: false, seedWins: 1, seedTies: 0 });
    expect(strength(cn!, settings)).toBe("fails");
    // Claims whose settings did not run are left out.
    expect(claims.some((c) => c.test.includes("dilated-only"))).toBe(false);
  });

  it("writes the required JSON shape and a markdown table with every setting", () => {
    const r = resultsJson(DEFAULT_CONFIG, [rec("identical-prompts", 1, { repetition: 3 })], 12);
    expect(r.settings[0]).toMatchObject({ name: "identical-prompts", seeds: [1] });
    expect(r.settings[0].scores.repetition).toEqual({ mean: 3, std: 0 });
    const md = resultsMarkdown(r, "notes here");
    expect(md).toContain("| identical-prompts | 3.00 ± 0.00");
    expect(md).toContain("## What it shows");
  });
});
