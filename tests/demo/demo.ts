/**
 * The demo end to end, shared by `npm run demo` (main.ts) and the e2e test: clear the output folder, start the stack,
 * run the story through the public API, write the report, and stop everything — on success, on failure, and when
 * `signal` aborts (Ctrl-C).
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { Api, type JobView } from "./api";
import { DEMO_PROMPT, type DemoRun, runDemoFlow } from "./flow";
import { writeReport } from "./report";
import { type Stack, startStack } from "./stack";
import type { DemoSummary } from "./summary";

export interface DemoConfig {
  outDir: string;
  steps: number;
  seed: number;
  prompt?: string;
  /** The first render at this multiple of the base resolution; then the cache answers these. */
  firstScale?: number;
  againScales?: number[];
  say?: (line: string) => void;
  onProgress?: (view: JobView) => void;
  /** Aborting stops the stack at once; the run then fails with "interrupted". */
  signal?: AbortSignal;
}

export interface DemoOutcome {
  summary: DemoSummary;
  run: DemoRun;
  /** What the runner process logged that it accepted, in order. */
  jobsAccepted: string[];
  workerUrl: string;
  runnerUrl: string;
  runnerPid: number;
}

export class DemoInterrupted extends Error {
  constructor() {
    super("interrupted");
  }
}

export async function runDemo(c: DemoConfig): Promise<DemoOutcome> {
  const t0 = Date.now();
  const say = c.say ?? (() => {});
  await rm(c.outDir, { recursive: true, force: true });
  if (c.signal?.aborted) throw new DemoInterrupted();
  let stack: Stack | null = null;
  const onAbort = () => void stack?.stop().catch(() => undefined);
  c.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    stack = await startStack({ say, logDir: join(c.outDir, "logs") });
    if (c.signal?.aborted) throw new DemoInterrupted();
    const started = Date.now();
    const prompt = c.prompt ?? DEMO_PROMPT;
    // A runner that dies mid-render fails the demo at once rather than at the render timeout.
    const flow = runDemoFlow(new Api(stack.workerUrl, stack.adminToken), {
      prompt,
      seed: c.seed,
      steps: c.steps,
      firstScale: c.firstScale ?? 4,
      againScales: c.againScales ?? [2, 3],
      baseResolution: stack.bundle.baseResolution,
      onProgress: c.onProgress,
      say,
    });
    flow.catch(() => {}); // when the runner died first, the flow's own failure that follows is moot
    const run = await Promise.race([flow, stack.runner.died]);
    const rendered = Date.now();
    const jobsAccepted = stack.runner.acceptedJobs();
    const { name, version, hash, baseResolution, vaeScaleFactor } = stack.bundle;
    say(`writing ${c.outDir}`);
    const summary = await writeReport(c.outDir, run, {
      prompt,
      seed: c.seed,
      steps: c.steps,
      bundle: { name, version, hash, baseResolution },
      runnerUrl: stack.runner.url,
      jobsAccepted,
      vaeScaleFactor,
      timingsMs: { startup: started - t0, renders: rendered - started },
    });
    return {
      summary,
      run,
      jobsAccepted,
      workerUrl: stack.workerUrl,
      runnerUrl: stack.runner.url,
      runnerPid: stack.runner.pid,
    };
  } catch (e) {
    throw c.signal?.aborted ? new DemoInterrupted() : e;
  } finally {
    c.signal?.removeEventListener("abort", onAbort);
    if (stack) {
      say("stopping the worker and the runner");
      await stack.stop();
    }
  }
}
