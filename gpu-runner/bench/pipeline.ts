/**
 * Pipeline overhead benchmark: the whole AccDiffusion loop with zero-cost stand-in models (bench/zeroModels.ts), so
 * everything measured is the pipeline's own work. Each (size, ControlNet on/off) configuration runs in its own child
 * process, so that its peak RSS (getrusage maxrss) is its own. Prints one JSON line per configuration:
 *
 *   - stepMs / stepCpuMs per phase: wall-clock and process CPU milliseconds between two progress events (one denoising
 *     step: skip residual, MultiDiffusion, dilated sampling, fusion), first step of each phase left out (it carries
 *     the phase's setup). min is the least disturbed by other processes on a shared machine; median is also given.
 *   - lastPhase: the same for the final (largest) phase, the headline number.
 *   - pipelineMsPerStepIncludingPhaseWork: all non-model time of the job (phase setup, decoding post-processing,
 *     canny...) divided by the denoising steps; with few steps the per-phase work dominates it.
 *   - peakRssMB: the child's peak resident set.
 *   - with --breakdown: self milliseconds per function (V8 sampling profiler, main thread) per denoising step of the
 *     last phase, top 20 and the total sampled (profiling slows the run by ~10%).
 *
 *   npx tsx gpu-runner/bench/pipeline.ts [--sizes 2048,4096] [--steps 6] [--controlnet off,on] [--breakdown]
 */
import { spawnSync } from "node:child_process";
import { Session } from "node:inspector/promises";
import { fileURLToPath } from "node:url";
import { runAccDiffusion } from "../src/pipeline/accdiffusion";
import { ZeroModels } from "./zeroModels";

interface Args {
  sizes: number[];
  steps: number;
  controlnet: boolean[];
  breakdown: boolean;
  child: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { sizes: [2048, 4096], steps: 6, controlnet: [false, true], breakdown: false, child: false };
  for (let k = 0; k < argv.length; k++) {
    const v = argv[k + 1];
    switch (argv[k]) {
      case "--sizes":
        a.sizes = v.split(",").map(Number);
        k++;
        break;
      case "--steps":
        a.steps = Number(v);
        k++;
        break;
      case "--controlnet":
        a.controlnet = v.split(",").map((s) => s === "on");
        k++;
        break;
      case "--breakdown":
        a.breakdown = true;
        break;
      case "--child":
        a.child = true;
        break;
      default:
        throw new Error(`unknown argument ${argv[k]}`);
    }
  }
  return a;
}

const round = (x: number) => Math.round(x * 10) / 10;

function summary(v: number[]): { min: number; median: number } {
  const s = v.length > 1 ? v.slice(1) : v; // the first step carries the phase setup
  const sorted = [...s].sort((x, y) => x - y);
  return { min: round(sorted[0]), median: round(sorted[Math.floor(sorted.length / 2)]) };
}

/** Self time per pipeline function from a V8 CPU profile, restricted to the samples marked in `keep`. */
function selfTimes(
  profile: { nodes: { id: number; callFrame: { functionName: string; url: string } }[] },
  samples: number[],
  deltas: number[],
  keep: boolean[],
): Map<string, number> {
  const names = new Map<number, string>();
  for (const n of profile.nodes) {
    const file = n.callFrame.url.split("/").pop() ?? "";
    names.set(n.id, `${n.callFrame.functionName || "(anonymous)"} ${file}`);
  }
  const out = new Map<string, number>();
  for (let i = 0; i < samples.length; i++) {
    if (!keep[i]) continue;
    const key = names.get(samples[i]) ?? "?";
    out.set(key, (out.get(key) ?? 0) + deltas[i] / 1000);
  }
  return out;
}

async function runChild(size: number, steps: number, controlnet: boolean, breakdown: boolean): Promise<void> {
  const models = new ZeroModels();
  const wall: Record<number, number[]> = {};
  const cpu: Record<number, number[]> = {};
  // Upscaling step windows on the monotonic clock in microseconds (the V8 profiler's clock), for the breakdown.
  const windows: [number, number, number][] = [];
  const micros = () => Number(process.hrtime.bigint() / 1000n);
  let lastMicros = micros();
  let lastWall = performance.now();
  let lastCpu = process.cpuUsage();
  let session: Session | undefined;
  if (breakdown) {
    session = new Session();
    session.connect();
    await session.post("Profiler.enable");
    await session.post("Profiler.setSamplingInterval", { interval: 200 });
    await session.post("Profiler.start");
  }
  const result = await runAccDiffusion(
    models,
    {
      prompt: "a cat and a dog are playing on the lawn",
      width: size,
      height: size,
      steps,
      seed: 1,
      useControlNet: controlnet,
    },
    {
      embeddingCache: null,
      onProgress: (e) => {
        const t = performance.now();
        const c = process.cpuUsage(lastCpu);
        wall[e.phase] ??= [];
        cpu[e.phase] ??= [];
        wall[e.phase].push(t - lastWall);
        cpu[e.phase].push((c.user + c.system) / 1000);
        const us = micros();
        if (e.phase > 1 && e.step > 1) windows.push([lastMicros, us, e.phase]);
        lastMicros = us;
        lastWall = t;
        lastCpu = process.cpuUsage();
      },
    },
  );
  let hotSpots: Record<string, number> | undefined;
  if (session) {
    const { profile } = await session.post("Profiler.stop");
    session.disconnect();
    // Sample k is taken at startTime + sum(deltas[0..k]), in microseconds of the monotonic clock hrtime reads.
    // Only the steps of the last (largest) phase, like lastPhase.
    const lastId = Math.max(...windows.map((w) => w[2]));
    const lastWindows = windows.filter((w) => w[2] === lastId);
    const keep: boolean[] = [];
    let t = profile.startTime;
    for (const d of profile.timeDeltas ?? []) {
      t += d;
      keep.push(lastWindows.some(([a, b]) => t >= a && t < b));
    }
    const self = selfTimes(profile, profile.samples ?? [], profile.timeDeltas ?? [], keep);
    const sorted = [...self].sort((x, y) => y[1] - x[1]);
    const all = sorted.reduce((a, [, v]) => a + v, 0);
    hotSpots = Object.fromEntries(sorted.slice(0, 20).map(([k, v]) => [k, round(v / lastWindows.length)]));
    hotSpots["(all sampled)"] = round(all / lastWindows.length);
  }
  const phases = result.phases.map((p) => p.id);
  const last = phases[phases.length - 1];
  const stepMs = Object.fromEntries(Object.entries(wall).map(([k, v]) => [k, summary(v)]));
  const stepCpuMs = Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, summary(v)]));
  console.log(
    JSON.stringify({
      size,
      controlnet,
      steps,
      phases,
      lastPhase: { wallMs: stepMs[last], cpuMs: stepCpuMs[last] },
      stepMs,
      stepCpuMs,
      totalMs: Math.round(result.timings.totalMs),
      pipelineMsPerStepIncludingPhaseWork: round(result.timings.pipelineMsPerStep),
      peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
      ...(hotSpots ? { selfMsPerLastPhaseStep: hotSpots } : {}),
    }),
  );
}

const args = parseArgs(process.argv.slice(2));
if (args.child) {
  await runChild(args.sizes[0], args.steps, args.controlnet[0], args.breakdown);
} else {
  const self = fileURLToPath(import.meta.url);
  for (const size of args.sizes) {
    for (const cn of args.controlnet) {
      const childArgs = ["--sizes", String(size), "--steps", String(args.steps), "--controlnet", cn ? "on" : "off"];
      if (args.breakdown) childArgs.push("--breakdown");
      const r = spawnSync(process.execPath, [...process.execArgv, self, ...childArgs, "--child"], {
        stdio: ["ignore", "inherit", "inherit"],
      });
      if (r.status !== 0) process.exit(r.status ?? 1);
    }
  }
}
