/**
 * Golden conformance runner.
 *
 *   npm run golden -- <dir>                              every <dir>/*.json (../shared/golden format), then, when
 *                                                        <dir>/../real-arch exists, the real_arch_bundle topic
 *   npm run golden -- --bundle DIR --reference DIR       real_arch_bundle only, for any bundle + recorded runs
 *                     [--cases DIR --tokenizer-ids FILE] (add the exporter's component cases)
 *   npm run golden -- --models DIR --reference DIR       the same, exporting the model set with our tool first
 *
 * One line per topic, then exactly `N passed, M failed` (cases). Unknown topics count as failed. Exit 1 on any
 * failure.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Mismatch } from "./compare";
import { REAL_ARCH_TOPIC, type RealArchSource, realArchBeside, realArchCases, type TopicCase } from "./realArchTopic";
import type { GoldenFile, TopicRunner } from "./types";

async function loadRunner(topic: string): Promise<TopicRunner | undefined> {
  if (!/^[a-z0-9_]+$/.test(topic)) return undefined;
  const file = fileURLToPath(new URL(`./topics/${topic}.ts`, import.meta.url));
  if (!existsSync(file)) return undefined;
  const mod = (await import(`./topics/${topic}.ts`)) as { default: TopicRunner };
  return mod.default;
}

export interface Counts {
  passed: number;
  failed: number;
}

/** Runs one topic's cases, logs its line (and one per failure), and returns its counts. */
async function runTopic(topic: string, cases: readonly TopicCase[], log: (line: string) => void): Promise<Counts> {
  const failures: string[] = [];
  let ok = 0;
  for (const c of cases) {
    try {
      await c.run();
      ok++;
    } catch (e) {
      const msg = e instanceof Mismatch ? e.message : e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      failures.push(`${c.id}: ${msg}`);
    }
  }
  log(`${failures.length === 0 ? "ok  " : "FAIL"} ${topic}: ${ok}/${ok + failures.length}`);
  for (const fl of failures) log(`       ${fl}`);
  return { passed: ok, failed: failures.length };
}

async function runRealArch(src: RealArchSource, log: (line: string) => void): Promise<Counts> {
  const topic = await realArchCases(src, log).catch((e: Error) => ({
    cases: [{ id: "setup", run: () => Promise.reject(e) }],
    close: async () => {},
  }));
  try {
    return await runTopic(REAL_ARCH_TOPIC, topic.cases, log);
  } finally {
    await topic.close();
  }
}

export interface GoldenOptions {
  /** Run the real_arch_bundle topic on this source (default: <dir>/../real-arch when present). */
  realArch?: RealArchSource | false;
}

export async function runGolden(
  dir: string | undefined,
  log: (line: string) => void,
  opts: GoldenOptions = {},
): Promise<Counts> {
  const files = dir
    ? readdirSync(dir)
        .filter((f) => f.endsWith(".json"))
        .sort()
    : [];
  let passed = 0;
  let failed = 0;
  for (const f of files) {
    const golden = JSON.parse(readFileSync(join(dir!, f), "utf8")) as GoldenFile;
    const topic = golden.topic ?? f.replace(/\.json$/, "");
    const runner = await loadRunner(topic);
    const cases: TopicCase[] = (golden.cases ?? []).map((c) => ({
      id: c.id,
      run: async () => {
        if (!runner) throw new Mismatch(`no implementation for topic '${topic}'`);
        await runner(c);
      },
    }));
    const r = await runTopic(topic, cases, log);
    passed += r.passed;
    failed += r.failed;
  }
  const realArch = opts.realArch ?? (dir ? realArchBeside(dir) : undefined);
  if (realArch) {
    const r = await runRealArch(realArch, log);
    passed += r.passed;
    failed += r.failed;
  }
  return { passed, failed };
}

const USAGE =
  "usage: npm run golden -- <dir> | npm run golden -- [<dir>] (--bundle DIR | --models DIR) --reference DIR [--cases DIR] [--tokenizer-ids FILE]";

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: process.argv.slice(2),
      allowPositionals: true,
      options: {
        "if-present": { type: "boolean" },
        bundle: { type: "string" },
        models: { type: "string" },
        reference: { type: "string" },
        cases: { type: "string" },
        "tokenizer-ids": { type: "string" },
      },
    });
  } catch (e) {
    console.error(`golden: ${(e as Error).message}; ${USAGE}`);
    process.exit(2);
  }
  const v = parsed.values as Record<string, string | boolean | undefined>;
  const dir = parsed.positionals[0];
  const explicit = v.bundle !== undefined || v.models !== undefined || v.reference !== undefined;
  let realArch: RealArchSource | undefined;
  if (explicit) {
    const missing = [v.bundle, v.models, v.reference, v.cases, v["tokenizer-ids"]].find(
      (p) => typeof p === "string" && !existsSync(p),
    );
    const problem =
      v.bundle !== undefined && v.models !== undefined
        ? "give --bundle or --models, not both"
        : v.bundle === undefined && v.models === undefined
          ? "--reference needs --bundle DIR (or --models DIR)"
          : v.reference === undefined
            ? "--bundle/--models need --reference DIR (a recorded run, or a folder of them)"
            : missing !== undefined
              ? `not found: ${missing}`
              : undefined;
    if (problem) {
      console.error(`golden: ${problem}; ${USAGE}`);
      process.exit(2);
    }
    realArch = {
      bundle: v.bundle as string | undefined,
      models: v.models as string | undefined,
      reference: v.reference as string,
      cases: v.cases as string | undefined,
      tokenizerIds: v["tokenizer-ids"] as string | undefined,
    };
  }
  if (dir && !existsSync(dir) && v["if-present"]) {
    console.log(`golden: ${dir} not found; skipped (CI always has it beside the checkout)`);
    process.exit(0);
  }
  if (dir ? !existsSync(dir) : !explicit) {
    console.error(`golden: directory not found: ${dir ?? "(none given)"}; ${USAGE}`);
    process.exit(2);
  }
  const { passed, failed } = await runGolden(dir, (l) => console.log(l), { realArch });
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed > 0 ? 1 : 0;
}
