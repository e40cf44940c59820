/**
 * Figure 1: the pipeline's own work per denoising step and its peak memory at 2048^2 and 4096^2, from
 * gpu-runner/bench/pipeline.ts (zero-cost stand-in models, one child process per configuration so that each peak RSS
 * is its own). That script is run as it is, as a child process, and its JSON lines are collected here.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("../../gpu-runner/bench/pipeline.ts", import.meta.url));

export interface OverheadLine {
  size: number;
  controlnet: boolean;
  steps: number;
  phases: number[];
  lastPhase: { wallMs: { min: number; median: number }; cpuMs: { min: number; median: number } };
  stepMs: Record<string, { min: number; median: number }>;
  stepCpuMs: Record<string, { min: number; median: number }>;
  totalMs: number;
  pipelineMsPerStepIncludingPhaseWork: number;
  peakRssMB: number;
}

export interface OverheadFigures {
  command: string;
  configurations: OverheadLine[];
  ms: number;
}

/** The JSON lines of the script's stdout that describe a configuration (anything else is ignored). */
export function parseOverheadLines(stdout: string): OverheadLine[] {
  const out: OverheadLine[] = [];
  for (const line of stdout.split("\n")) {
    const t = line.trim();
    if (!t.startsWith("{")) continue;
    let v: unknown;
    try {
      v = JSON.parse(t);
    } catch {
      continue;
    }
    const o = v as Partial<OverheadLine>;
    if (typeof o.size === "number" && typeof o.peakRssMB === "number" && o.lastPhase) out.push(o as OverheadLine);
  }
  return out;
}

export async function overheadFigures(
  o: { sizes: number[]; steps: number; timeoutMs: number },
  say: (line: string) => void = () => {},
): Promise<OverheadFigures> {
  const t0 = performance.now();
  const args = ["--sizes", o.sizes.join(","), "--steps", String(o.steps), "--controlnet", "off,on"];
  say(`pipeline overhead: gpu-runner/bench/pipeline.ts ${args.join(" ")}`);
  // The same node and loader flags (tsx) as this process.
  const child = spawn(process.execPath, [...process.execArgv, SCRIPT, ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let stdout = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (c: string) => {
    stdout += c;
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), o.timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
  clearTimeout(timer);
  if (code !== 0) throw new Error(`gpu-runner/bench/pipeline.ts exited with ${code}`);
  return {
    command: `npx tsx gpu-runner/bench/pipeline.ts ${args.join(" ")}`,
    configurations: parseOverheadLines(stdout),
    ms: Math.round(performance.now() - t0),
  };
}
