/**
 * Aggregates the runs into results.json and results.md, and checks each of the paper's claims against the numbers.
 * A claim's verdict (claimVerdict) is "yes" only when the means differ in the paper's direction by more than the
 * score's margin, on every seed, and by more than the seed-to-seed spread; "weak" when the means differ beyond the
 * margin in that direction but a seed disagrees or the gap is within the spread; "tie" when the means are within the
 * margin (e.g. 0.80 vs 0.80); "no" when they differ beyond it the other way. Three seeds cannot show more, and a
 * strict comparison of means would call a difference in the fourth decimal a confirmation.
 */
import type { RunRecord } from "./run";
import type { Scores } from "./scores";
import { type ExperimentConfig, SETTINGS, type Setting } from "./settings";

export type ScoreName = keyof Scores;

export interface ScoreInfo {
  better: "lower" | "higher" | "none";
  /** Differences of means (and per-seed differences) up to this are ties: below what the score can resolve. */
  margin: number;
  definition: string;
}

export const SCORE_INFO: Record<ScoreName, ScoreInfo> = {
  repetition: {
    better: "lower",
    margin: 0.5, // instances are counted: less than half an instance per image is no difference
    definition:
      "object instances in the final image beyond those in the low-res image, summed over objects " +
      "(instance = connected region of an object's colour on the 8x8-cell grid, >= 0.05% of the image; gaps of one low-res cell bridged)",
  },
  structure: {
    better: "higher",
    margin: 0.01, // IoU: one point
    definition:
      "mean IoU of the object masks of the final image and of the bicubically upscaled low-res image, over the objects present",
  },
  speckle: {
    better: "lower",
    margin: 0.05, // cells per thousand: a few cells of a 192 x 192 grid
    definition:
      "cells per thousand whose class is shared by < 3 of their 8 neighbours: one-cell lines and dots (window seams, the dither of inconsistent dilated samples)",
  },
  instances: {
    better: "none",
    margin: 0.5,
    definition: "object instances in the final image (context for repetition)",
  },
};

const SCORE_NAMES = Object.keys(SCORE_INFO) as ScoreName[];

export interface Stat {
  mean: number;
  /** Unbiased (n - 1) standard deviation over the seeds; 0 for one seed. */
  std: number;
}

export interface SettingResult {
  name: string;
  description: string;
  switches: Setting["switches"];
  seeds: number[];
  scores: Record<ScoreName, Stat>;
  perSeed: { seed: number; scores: Scores; seconds: number; unetSamples: number }[];
}

/**
 * A claim of the paper as a comparison of one score: `better` beats `worse`, or the mean score of one `setting`
 * exceeds `above` (e.g. "repetition appears": identical prompts give more instances than the low-res image).
 */
export type Claim = {
  experiment: string;
  claim: string;
  score: ScoreName;
} & ({ better: string; worse: string } | { setting: string; above: number });

export interface ClaimResult {
  experiment: string;
  claim: string;
  score: ScoreName;
  /** What was compared, e.g. "patch-prompts < identical-prompts" or "identical-prompts > 0". */
  test: string;
  /** The two means compared (the second is the threshold for a one-setting claim). */
  means: [number, number];
  /** Difference of the means in the paper's direction (positive: the paper's way). */
  gap: number;
  /** The score's tie margin (SCORE_INFO). */
  margin: number;
  /** The larger unbiased std over the seeds of the settings compared. */
  spread: number;
  verdict: Verdict;
  /** Seeds on which the comparison holds by more than the margin, seeds within the margin, and seeds compared. */
  seedWins: number;
  seedTies: number;
  seeds: number;
}

/** yes: shown; weak: the paper's direction, not on every seed or within the spread; tie: no difference; no: the reverse. */
export type Verdict = "yes" | "weak" | "tie" | "no";

/** The verdict on one claim (see the header): pure, so the table and the notes cannot disagree. */
export function claimVerdict(c: {
  gap: number;
  margin: number;
  spread: number;
  seedWins: number;
  seeds: number;
}): Verdict {
  if (!(Math.abs(c.gap) > c.margin)) return "tie";
  if (c.gap < 0) return "no";
  return c.seeds > 0 && c.seedWins === c.seeds && c.gap > c.spread ? "yes" : "weak";
}

export const CLAIMS: readonly Claim[] = [
  {
    experiment: "1",
    claim: "the identical prompt on every window repeats objects",
    score: "repetition",
    setting: "identical-prompts",
    above: 0,
  },
  {
    experiment: "1",
    claim: "without the skip residual (plain MultiDiffusion) it repeats more",
    score: "repetition",
    better: "identical-prompts",
    worse: "multidiffusion",
  },
  {
    experiment: "2",
    claim: "patch-content-aware prompts suppress the repetition of identical prompts",
    score: "repetition",
    better: "patch-prompts",
    worse: "identical-prompts",
  },
  {
    experiment: "3",
    claim: "the ControlNet keeps the low-res structure better than patch prompts alone",
    score: "structure",
    better: "patch-prompts+controlnet",
    worse: "patch-prompts",
  },
  {
    experiment: "3",
    claim: "the ControlNet keeps the low-res structure (skip residual off, so it is the only anchor)",
    score: "structure",
    better: "patch-prompts+controlnet-no-skip",
    worse: "patch-prompts-no-skip",
  },
  {
    experiment: "4",
    claim: "window interaction makes dilated sampling consistent (full pipeline)",
    score: "speckle",
    better: "full",
    worse: "full-no-window-interaction",
  },
  {
    experiment: "4",
    claim: "window interaction makes dilated sampling consistent (dilated sampling alone)",
    score: "speckle",
    better: "dilated-only",
    worse: "dilated-only-no-window-interaction",
  },
];

export function stat(values: readonly number[]): Stat {
  const n = values.length;
  if (n === 0) return { mean: Number.NaN, std: Number.NaN };
  const mean = values.reduce((s, v) => s + v, 0) / n;
  if (n === 1) return { mean, std: 0 };
  const ss = values.reduce((s, v) => s + (v - mean) ** 2, 0);
  return { mean, std: Math.sqrt(ss / (n - 1)) };
}

/** One entry per setting that ran, in SETTINGS order. */
export function aggregate(records: readonly RunRecord[]): SettingResult[] {
  const out: SettingResult[] = [];
  for (const s of SETTINGS) {
    const runs = records.filter((r) => r.setting === s.name).sort((a, b) => a.seed - b.seed);
    if (runs.length === 0) continue;
    const scores = {} as Record<ScoreName, Stat>;
    for (const k of SCORE_NAMES) scores[k] = stat(runs.map((r) => r.scores[k]));
    out.push({
      name: s.name,
      description: s.description,
      switches: s.switches,
      seeds: runs.map((r) => r.seed),
      scores,
      perSeed: runs.map((r) => ({ seed: r.seed, scores: r.scores, seconds: r.seconds, unetSamples: r.unetSamples })),
    });
  }
  return out;
}

/** a - b in the score's better direction (positive when a is better). */
const advantage = (score: ScoreName, a: number, b: number) => (SCORE_INFO[score].better === "higher" ? a - b : b - a);

function judged(base: Omit<ClaimResult, "verdict" | "gap" | "margin">, gap: number): ClaimResult {
  const margin = SCORE_INFO[base.score].margin;
  const r = { ...base, gap, margin };
  return { ...r, verdict: claimVerdict(r) };
}

/** Each claim whose settings ran, checked on the means and seed by seed. */
export function checkClaims(results: readonly SettingResult[]): ClaimResult[] {
  const out: ClaimResult[] = [];
  for (const c of CLAIMS) {
    const k = c.score;
    if ("above" in c) {
      const r = results.find((x) => x.name === c.setting);
      if (!r) continue;
      const margin = SCORE_INFO[k].margin;
      out.push(
        judged(
          {
            experiment: c.experiment,
            claim: c.claim,
            score: k,
            test: `${c.setting} > ${c.above}`,
            means: [r.scores[k].mean, c.above],
            spread: r.scores[k].std,
            seedWins: r.perSeed.filter((p) => p.scores[k] - c.above > margin).length,
            seedTies: r.perSeed.filter((p) => Math.abs(p.scores[k] - c.above) <= margin).length,
            seeds: r.perSeed.length,
          },
          r.scores[k].mean - c.above,
        ),
      );
      continue;
    }
    const good = results.find((r) => r.name === c.better);
    const bad = results.find((r) => r.name === c.worse);
    if (!good || !bad) continue;
    const margin = SCORE_INFO[k].margin;
    let wins = 0;
    let ties = 0;
    let seeds = 0;
    for (const g of good.perSeed) {
      const b = bad.perSeed.find((p) => p.seed === g.seed);
      if (!b) continue;
      seeds++;
      const d = advantage(k, g.scores[k], b.scores[k]);
      if (d > margin) wins++;
      else if (Math.abs(d) <= margin) ties++;
    }
    const means: [number, number] = [good.scores[k].mean, bad.scores[k].mean];
    out.push(
      judged(
        {
          experiment: c.experiment,
          claim: c.claim,
          score: k,
          test: `${c.better} ${SCORE_INFO[k].better === "higher" ? ">" : "<"} ${c.worse}`,
          means,
          spread: Math.max(good.scores[k].std, bad.scores[k].std),
          seedWins: wins,
          seedTies: ties,
          seeds,
        },
        advantage(k, means[0], means[1]),
      ),
    );
  }
  return out;
}

export interface ResultsJson {
  config: ExperimentConfig;
  scoreDefinitions: Record<ScoreName, ScoreInfo>;
  settings: SettingResult[];
  claims: ClaimResult[];
  totalSeconds: number;
}

export function resultsJson(
  config: ExperimentConfig,
  records: readonly RunRecord[],
  totalSeconds: number,
): ResultsJson {
  const settings = aggregate(records);
  return { config, scoreDefinitions: SCORE_INFO, settings, claims: checkClaims(settings), totalSeconds };
}

const fmt = (s: Stat) => `${s.mean.toFixed(2)} ± ${s.std.toFixed(2)}`;
const on = (b: boolean) => (b ? "on" : "-");
const VERDICT_CELL: Record<Verdict, string> = { yes: "**yes**", weak: "*weak*", tie: "*tie*", no: "**no**" };

/** results.md: the settings and their switches, the score table, the claims, and the notes. */
export function resultsMarkdown(r: ResultsJson, notes: string): string {
  const c = r.config;
  const lines: string[] = [];
  lines.push("# AccDiffusion v2 in the toy world: the paper's claims, measured", "");
  lines.push(
    `Prompt "${c.prompt}", ${c.size}x${c.size} (${c.size / 512}x the 512 base, progressive upscaling), ` +
      `${c.steps} steps, seeds ${c.seeds.join(", ")}. Mean ± unbiased std over the seeds. ` +
      `Produced by \`npm run experiments\` in ${r.totalSeconds.toFixed(0)} s.`,
    "",
  );
  lines.push("## Scores", "");
  for (const k of SCORE_NAMES) {
    const dir = SCORE_INFO[k].better === "none" ? "no direction" : `${SCORE_INFO[k].better} is better`;
    lines.push(`- **${k}** (${dir}): ${SCORE_INFO[k].definition}.`);
  }
  lines.push("", "## Results", "");
  lines.push(`| setting | ${SCORE_NAMES.join(" | ")} |`, `|---|${SCORE_NAMES.map(() => "---").join("|")}|`);
  for (const s of r.settings) lines.push(`| ${s.name} | ${SCORE_NAMES.map((k) => fmt(s.scores[k])).join(" | ")} |`);
  lines.push("", "## Claims", "");
  lines.push("| exp. | claim | score | test (means) | holds | seeds where it holds |", "|---|---|---|---|---|---|");
  for (const k of r.claims) {
    lines.push(
      `| ${k.experiment} | ${k.claim} | ${k.score} | ${k.test} (${k.means[0].toFixed(2)} vs ${k.means[1].toFixed(2)}) | ` +
        `${VERDICT_CELL[k.verdict]} | ${k.seedWins}/${k.seeds}${k.seedTies ? ` (${k.seedTies} tied)` : ""} |`,
    );
  }
  lines.push(
    "",
    "holds: **yes** when the means differ in the claimed direction by more than the score's margin " +
      `(${SCORE_NAMES.filter((k) => SCORE_INFO[k].better !== "none")
        .map((k) => `${k} ${SCORE_INFO[k].margin}`)
        .join(", ")}), ` +
      "on every seed and by more than the larger seed-to-seed std; *weak* when they differ beyond the margin in that " +
      "direction but not so; *tie* when they are within the margin; **no** when they differ beyond it the other way. " +
      "A seed counts where the claim holds on it by more than the margin, as tied within it.",
  );
  lines.push("", "## Settings (every switch of the request)", "");
  lines.push(
    "| setting | MultiDiffusion | patch prompts | ControlNet | dilated | window interaction | skip residual | what it shows |",
    "|---|---|---|---|---|---|---|---|",
  );
  for (const s of r.settings) {
    const w = s.switches;
    lines.push(
      `| ${s.name} | ${on(w.useMultiDiffusion)} | ${on(w.usePatchPrompts)} | ${on(w.useControlNet)} | ` +
        `${on(w.useDilatedSampling)} | ${on(w.useDilatedSampling && w.shuffle)} | ${on(w.useSkipResidual)} | ${s.description} |`,
    );
  }
  lines.push(
    "",
    "Gaussian filter and progressive upscaling are on everywhere; every other request field is the pipeline default.",
    "",
  );
  lines.push("## Pictures", "");
  lines.push(
    "`<seed>/<setting>.png` (and `<seed>/lowres.png`), and `montage-<seed>.png`: the low-res image, then every setting, " +
      "each captioned with its scores.",
    "",
  );
  if (notes.trim()) lines.push("## What it shows", "", notes.trim(), "");
  return lines.join("\n");
}
