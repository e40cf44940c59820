/**
 * `npm run experiments`: the paper's claims reproduced in the toy world.
 *
 * Runs every setting (settings.ts) on every seed through the real pipeline on the toy-world ONNX bundle (CPU),
 * scores each final image against its low-res phase (scores.ts), and writes to out/experiments/:
 *   results.json, results.md, <seed>/lowres.png, <seed>/<setting>.png, montage-<seed>.png.
 *
 * Options: --seeds 1,2,3  --size 1536  --steps 10  --only name,name  --out <dir>
 *          --report-only: re-judge the claims of an existing results.json and rewrite results.md (after editing
 *          notes.ts or the verdict rule), no runs.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { encodeImage } from "../src/images/encode";
import { loadOnnxModels } from "../src/models/index";
import { ensureToyWorld } from "../src/toyworld/index";
import { montage, type Tile } from "./montage";
import { notesFor } from "./notes";
import { checkClaims, type ResultsJson, resultsJson, resultsMarkdown, SCORE_INFO } from "./report";
import { type RunRecord, runSetting } from "./run";
import type { Scores } from "./scores";
import { DEFAULT_CONFIG, type ExperimentConfig, findSetting, SETTINGS } from "./settings";

const DEFAULT_OUT = fileURLToPath(new URL("../../out/experiments", import.meta.url));

function parseConfig(): { config: ExperimentConfig; only: string[] | undefined; out: string; reportOnly: boolean } {
  const { values } = parseArgs({
    options: {
      seeds: { type: "string" },
      size: { type: "string" },
      steps: { type: "string" },
      only: { type: "string" },
      out: { type: "string" },
      "report-only": { type: "boolean" },
    },
  });
  const config: ExperimentConfig = {
    ...DEFAULT_CONFIG,
    seeds: values.seeds ? values.seeds.split(",").map(Number) : DEFAULT_CONFIG.seeds,
    size: values.size ? Number(values.size) : DEFAULT_CONFIG.size,
    steps: values.steps ? Number(values.steps) : DEFAULT_CONFIG.steps,
  };
  const only = values.only?.split(",");
  for (const n of only ?? []) findSetting(n);
  return { config, only, out: values.out ?? DEFAULT_OUT, reportOnly: values["report-only"] ?? false };
}

const short = (s: Scores) =>
  `repetition ${s.repetition}  structure ${s.structure.toFixed(2)}  speckle ${s.speckle.toFixed(2)}`;

async function main(): Promise<void> {
  const { config, only, out, reportOnly } = parseConfig();
  if (reportOnly) {
    const saved = JSON.parse(await readFile(join(out, "results.json"), "utf8")) as ResultsJson;
    // The claims are re-judged from the saved per-setting results, so a change of the verdict rule shows too.
    const json: ResultsJson = { ...saved, scoreDefinitions: SCORE_INFO, claims: checkClaims(saved.settings) };
    await writeFile(join(out, "results.json"), `${JSON.stringify(json, null, 2)}\n`);
    await writeFile(join(out, "results.md"), resultsMarkdown(json, notesFor(json)));
    console.log(`rewrote ${join(out, "results.md")} and the claims of results.json`);
    return;
  }
  const settings = SETTINGS.filter((s) => !only || only.includes(s.name));
  const t0 = performance.now();
  const models = await loadOnnxModels(await ensureToyWorld(), { provider: "cpu" });
  const records: RunRecord[] = [];
  const total = settings.length * config.seeds.length;
  console.log(
    `experiments: ${settings.length} settings x ${config.seeds.length} seeds at ${config.size}^2, ${config.steps} steps -> ${out}`,
  );
  try {
    for (const seed of config.seeds) {
      const dir = join(out, String(seed));
      await mkdir(dir, { recursive: true });
      const tiles: Tile[] = [];
      for (const setting of settings) {
        const n = records.length + 1;
        let shown = -1;
        const rec = await runSetting(models, setting, config, seed, (e) => {
          // One line per 25 % of the job keeps the log readable.
          const q = Math.floor(e.percent / 25);
          if (q > shown && q < 4) {
            shown = q;
            process.stdout.write(`  [${n}/${total}] seed ${seed} ${setting.name}: ${Math.round(e.percent)}%\r`);
          }
        });
        records.push(rec);
        console.log(
          `  [${n}/${total}] seed ${seed} ${setting.name}: ${rec.seconds.toFixed(1)} s  ${short(rec.scores)}`,
        );
        if (tiles.length === 0) {
          await writeFile(join(dir, "lowres.png"), await encodeImage(rec.lowres));
          tiles.push({ image: rec.lowres, title: `seed ${seed}: low-res (512^2)`, caption: "phase 1, the reference" });
        } else if (!sameImage(rec.lowres, tiles[0].image)) {
          console.warn(`  warning: ${setting.name} has a different low-res image than the first setting`);
        }
        await writeFile(join(dir, `${setting.name}.png`), await encodeImage(rec.image));
        tiles.push({ image: rec.image, title: setting.name, caption: short(rec.scores) });
      }
      await writeFile(join(out, `montage-${seed}.png`), await montage(tiles));
    }
  } finally {
    await models.dispose();
  }
  const seconds = (performance.now() - t0) / 1000;
  const json = resultsJson(config, records, seconds);
  await mkdir(out, { recursive: true });
  await writeFile(join(out, "results.json"), `${JSON.stringify(json, null, 2)}\n`);
  await writeFile(join(out, "results.md"), resultsMarkdown(json, notesFor(json)));
  console.log(`\n${json.claims.map((c) => `${c.verdict.padEnd(5)}  ${c.claim} (${c.test})`).join("\n")}`);
  console.log(`\nwrote ${join(out, "results.md")} and results.json (${seconds.toFixed(0)} s)`);
}

function sameImage(a: { data: Uint8Array }, b: { data: Uint8Array }): boolean {
  return a.data.length === b.data.length && a.data.every((v, i) => v === b.data[i]);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
