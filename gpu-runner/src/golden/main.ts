/**
 * Golden conformance runner: `npm run golden -- <dir>`.
 * Runs every `<dir>/*.json` (../shared/golden format) against the implementation, one line per
 * topic, then exactly `N passed, M failed` (cases). Unknown topics count as failed. Exit 1 on any failure.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Mismatch } from "./compare";
import type { GoldenFile, TopicRunner } from "./types";

async function loadRunner(topic: string): Promise<TopicRunner | undefined> {
  if (!/^[a-z0-9_]+$/.test(topic)) return undefined;
  const file = fileURLToPath(new URL(`./topics/${topic}.ts`, import.meta.url));
  if (!existsSync(file)) return undefined;
  const mod = (await import(`./topics/${topic}.ts`)) as { default: TopicRunner };
  return mod.default;
}

export async function runGolden(dir: string, log: (line: string) => void): Promise<{ passed: number; failed: number }> {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .sort();
  let passed = 0;
  let failed = 0;
  for (const f of files) {
    const golden = JSON.parse(readFileSync(join(dir, f), "utf8")) as GoldenFile;
    const topic = golden.topic ?? f.replace(/\.json$/, "");
    const runner = await loadRunner(topic);
    const failures: string[] = [];
    let ok = 0;
    for (const c of golden.cases ?? []) {
      if (!runner) {
        failures.push(`${c.id}: no implementation for topic '${topic}'`);
        continue;
      }
      try {
        await runner(c);
        ok++;
      } catch (e) {
        const msg = e instanceof Mismatch ? e.message : e instanceof Error ? `${e.name}: ${e.message}` : String(e);
        failures.push(`${c.id}: ${msg}`);
      }
    }
    passed += ok;
    failed += failures.length;
    log(`${failures.length === 0 ? "ok  " : "FAIL"} ${topic}: ${ok}/${ok + failures.length}`);
    for (const fl of failures) log(`       ${fl}`);
  }
  return { passed, failed };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const dir = process.argv[2];
  if (dir && !existsSync(dir) && process.argv.includes("--if-present")) {
    console.log(`golden: ${dir} not found; skipped (CI always has it beside the checkout)`);
    process.exit(0);
  }
  if (!dir || !existsSync(dir)) {
    console.error(`golden: directory not found: ${dir ?? "(none given)"}; usage: npm run golden -- <dir>`);
    process.exit(2);
  }
  const { passed, failed } = await runGolden(dir, (l) => console.log(l));
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed > 0 ? 1 : 0;
}
