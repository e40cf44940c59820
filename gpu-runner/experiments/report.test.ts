import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { notesFor } from "./notes";
import { aggregate, checkClaims, claimVerdict, resultsJson, resultsMarkdown, stat } from "./report";
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
    expect(appears).toMatchObject({ verdict: "yes", seedWins: 2, seeds: 2 });
    const suppress = claims.find((c) => c.test === "patch-prompts < identical-prompts");
    expect(suppress).toMatchObject({ verdict: "yes", seedWins: 2, means: [0, 5], gap: 5 });
    // Structure 0.8 (mean) vs 0.8: a tie, whatever the seeds do; one seed better, one worse.
    const cn = claims.find((c) => c.score === "structure" && c.test.startsWith("patch-prompts+controlnet >"));
    expect(cn).toMatchObject({ verdict: "tie", seedWins: 1, seedTies: 0 });
    // Claims whose settings did not run are left out.
    expect(claims.some((c) => c.test.includes("dilated-only"))).toBe(false);
  });

  it("does not call means equal at two decimals a confirmation (0.80 vs 0.80 on 2 of 3 seeds is a tie)", () => {
    // The default run's experiment 3: 0.7985 vs 0.7980, better on 2 of 3 seeds.
    const structure = [
      [0.81, 0.7995, 0.785],
      [0.8, 0.799, 0.7951],
    ];
    const records = [1, 2, 3].flatMap((seed, i) => [
      rec("patch-prompts+controlnet", seed, { structure: structure[0][i] }),
      rec("patch-prompts", seed, { structure: structure[1][i] }),
    ]);
    const r = resultsJson(DEFAULT_CONFIG, records, 1);
    const cn = r.claims.find((c) => c.test === "patch-prompts+controlnet > patch-prompts");
    expect(cn?.means.map((m) => m.toFixed(2))).toEqual(["0.80", "0.80"]);
    expect(cn).toMatchObject({ verdict: "tie", seeds: 3 });
    const md = resultsMarkdown(r, notesFor(r));
    expect(md).toMatch(/patch-prompts\+controlnet > patch-prompts \(0\.80 vs 0\.80\) \| \*tie\* \|/);
    expect(md).not.toMatch(/\(0\.80 vs 0\.80\) \| \*\*yes\*\*/);
    // The notes give the same verdict as the table.
    expect(notesFor(r)).toContain("than patch prompts alone: **a tie**");
  });

  it("claimVerdict: yes only beyond the margin, on every seed and beyond the spread; weak, tie, no otherwise", () => {
    const base = { margin: 0.01, spread: 0.02, seedWins: 3, seeds: 3 };
    expect(claimVerdict({ ...base, gap: 0.05 })).toBe("yes");
    expect(claimVerdict({ ...base, gap: 0.05, seedWins: 2 })).toBe("weak");
    expect(claimVerdict({ ...base, gap: 0.015 })).toBe("weak"); // beyond the margin, within the spread
    expect(claimVerdict({ ...base, gap: 0.01 })).toBe("tie");
    expect(claimVerdict({ ...base, gap: -0.005 })).toBe("tie");
    expect(claimVerdict({ ...base, gap: -0.05, seedWins: 0 })).toBe("no");
    expect(claimVerdict({ ...base, gap: Number.NaN })).toBe("tie");
    expect(claimVerdict({ ...base, gap: 1, seedWins: 0, seeds: 0 })).toBe("weak");
    fc.assert(
      fc.property(
        fc.double({ min: -2, max: 2, noNaN: true }),
        fc.double({ min: 0, max: 0.5, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.nat(5),
        fc.nat(5),
        (gap, margin, spread, a, b) => {
          const v = claimVerdict({ gap, margin, spread, seedWins: Math.min(a, b), seeds: Math.max(a, b) });
          if (v === "yes") expect(gap > margin && gap > spread && a === b && a > 0).toBe(true);
          expect(v === "tie").toBe(Math.abs(gap) <= margin);
          expect(v === "no").toBe(gap < -margin);
          // Mirrored means flip a clear result into its reverse.
          if (v === "yes") expect(claimVerdict({ gap: -gap, margin, spread, seedWins: 0, seeds: a })).toBe("no");
        },
      ),
    );
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
