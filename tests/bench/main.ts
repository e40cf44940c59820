/**
 * `npm run bench`: the figures of tests/bench/README.md as JSON on stdout and in out/bench/bench.json (plus the same
 * as Markdown tables in out/bench/bench.md). Progress goes to stderr.
 *
 *   npm run bench -- [--only overhead,evaluations,worker] [--requests 200] [--concurrency 8] [--out DIR]
 *
 * The parts run one after the other (never two at once: the timings would disturb each other on a small machine).
 */
import { execFileSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { arch, cpus, platform, release, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { EvaluationFigures } from "./evaluations";
import { cacheMarkdown, evaluationsMarkdown, overheadMarkdown, workerMarkdown } from "./markdown";
import type { OverheadFigures } from "./pipelineOverhead";
import type { WorkerFigures } from "./workerLoad";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const PARTS = ["overhead", "evaluations", "worker"] as const;
type Part = (typeof PARTS)[number];

function intFlag(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer in [${min}, ${max}]`);
  return n;
}

function gitCommit(): string | null {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], {
      cwd: ROOT,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
  } catch {
    return null;
  }
}

function machine() {
  const c = cpus();
  return {
    cpus: c.length,
    cpuModel: c[0]?.model ?? "unknown",
    memoryGB: Math.round(totalmem() / 2 ** 30),
    platform: `${platform()} ${release()} ${arch()}`,
    node: process.version,
  };
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const { values } = parseArgs({
    options: {
      only: { type: "string" },
      requests: { type: "string" },
      concurrency: { type: "string" },
      out: { type: "string" },
    },
    strict: true,
  });
  const only = (values.only?.split(",") ?? [...PARTS]) as Part[];
  for (const p of only) if (!PARTS.includes(p)) throw new Error(`--only takes ${PARTS.join(", ")}; got ${p}`);
  const requests = intFlag("requests", values.requests, 200, 1, 2000);
  const concurrency = intFlag("concurrency", values.concurrency, 8, 1, 64);
  const outDir = resolve(values.out ?? join(ROOT, "out/bench"));
  await mkdir(outDir, { recursive: true });
  const say = (line: string) =>
    process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);

  let overhead: OverheadFigures | undefined;
  let evaluations: EvaluationFigures | undefined;
  let worker: WorkerFigures | undefined;
  // Each part is loaded only when asked for (the worker part does not need the pipeline in this process).
  if (only.includes("overhead")) {
    const { overheadFigures } = await import("./pipelineOverhead");
    overhead = await overheadFigures({ sizes: [2048, 4096], steps: 6, timeoutMs: 180_000 }, say);
  }
  if (only.includes("evaluations")) {
    const { evaluationFigures } = await import("./evaluations");
    evaluations = await evaluationFigures(say);
  }
  if (only.includes("worker")) {
    const { workerFigures } = await import("./workerLoad");
    worker = await workerFigures({ requests, concurrency, timeLimitMs: 60_000, logDir: join(outDir, "logs") }, say);
  }

  const figures = {
    date: new Date().toISOString(),
    commit: gitCommit(),
    machine: machine(),
    pipelineOverhead: overhead,
    modelEvaluations: evaluations && { ...evaluations, cache: undefined },
    cacheSavings: evaluations?.cache,
    worker,
    totalMs: Math.round(performance.now() - t0),
  };
  const json = JSON.stringify(figures, null, 2);
  await writeFile(join(outDir, "bench.json"), `${json}\n`);
  const md = [
    `# Benchmark ${figures.date} (${figures.commit ?? "no commit"}, ${figures.machine.cpus} CPUs ${figures.machine.cpuModel})`,
    overhead &&
      `## Pipeline overhead (ms of pipeline work per denoising step, stand-in models)\n\n${overheadMarkdown(overhead)}`,
    evaluations &&
      `## Model evaluations, ${evaluations.steps} steps (ours / reference)\n\n${evaluationsMarkdown(evaluations)}`,
    evaluations && `## Evaluations saved by the cache\n\n${cacheMarkdown(evaluations)}`,
    worker &&
      `## Worker under load (${worker.load.requests} requests, concurrency ${worker.load.concurrency})\n\n${workerMarkdown(worker)}`,
  ]
    .filter(Boolean)
    .join("\n\n");
  await writeFile(join(outDir, "bench.md"), `${md}\n`);
  process.stdout.write(`${json}\n`);
  say(`wrote ${join(outDir, "bench.json")} and bench.md`);
}

// Exit explicitly: the Workers runtime's handles may keep the event loop alive after it is disposed.
main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
