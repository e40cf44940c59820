/**
 * `npm run demo`: the whole product on loopback with the toy-world bundle (demo.ts), progress on the console, the
 * report in out/demo/. Options: --steps N (default 15: a few minutes at most on 2 CPU cores), --seed N, --out DIR.
 * Exit 0 on success; otherwise one line on stderr and exit 1 (130 when interrupted).
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { DemoInterrupted, runDemo } from "./demo";
import { ProgressPrinter } from "./progress";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const DEMO_STEPS = 15;
export const DEMO_SEED = 2412;

function intFlag(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer in [${min}, ${max}]`);
  return n;
}

async function main(): Promise<number> {
  const t0 = Date.now();
  const { values } = parseArgs({
    options: { steps: { type: "string" }, seed: { type: "string" }, out: { type: "string" } },
    strict: true,
  });
  const steps = intFlag("steps", values.steps, DEMO_STEPS, 1, 150);
  const seed = intFlag("seed", values.seed, DEMO_SEED, 0, 0xffffffff);
  const outDir = resolve(values.out ?? `${ROOT}/out/demo`);

  const abort = new AbortController();
  const onSignal = () => {
    if (abort.signal.aborted) process.exit(130);
    process.stderr.write("\nstopping (Ctrl-C again to quit at once)\n");
    abort.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
  const printer = new ProgressPrinter();
  const say = (line: string) => {
    printer.done();
    console.log(`[${elapsed().padStart(7)}] ${line}`);
  };
  try {
    const { summary } = await runDemo({
      outDir,
      steps,
      seed,
      say,
      onProgress: (v) => printer.update(v),
      signal: abort.signal,
    });
    printer.done();
    for (const r of summary.renders) {
      console.log(
        `  ${r.label.padEnd(3)} ${`${r.width}x${r.height}`.padEnd(10)} HTTP ${r.httpStatus} ${r.status}, ` +
          `${r.dispatched ? "rendered by the runner" : "answered from cache"}, charged ${r.price.charged} ` +
          `${r.price.unit}, ${r.modelEvaluations.total.unetCalls} UNet calls`,
      );
    }
    console.log(`report: ${resolve(outDir, "index.html")}`);
    console.log(`total time: ${elapsed()}`);
    return 0;
  } catch (e) {
    printer.done();
    if (e instanceof DemoInterrupted) {
      process.stderr.write(`demo interrupted after ${elapsed()}; everything it started is stopped\n`);
      return 130;
    }
    const message = e instanceof Error ? e.message : String(e);
    process.stderr.write(`demo failed: ${message.replace(/\s*\n\s*/g, "; ")}\n`);
    return 1;
  }
}

// Exit explicitly: the Workers runtime's handles may keep the event loop alive after it is disposed.
main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`demo failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
