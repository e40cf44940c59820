/**
 * `npm run bench:backend`: the pipeline + the onnxruntime-node backend (CPU provider) over a bundle with SDXL's
 * exact signature and nearly free graphs (bench/sdxlShapedBundle.ts), so what it measures is the data path between
 * them. Each (size, path) runs in its own child process (its own peak RSS). Paths:
 *
 *   before  the data path as it was: host crops [2*views, 3, 8h, 8w], the separate ControlNet, its 10 residuals back
 *           to JS (float16 -> float32) and into the UNet again (float32 -> float16), every conversion in JS, the text
 *           conditioning converted at every call
 *   after   the fused unet_controlnet: the condition padded and converted once per phase, per call a subarray of its
 *           rows and the crop boxes; residuals stay in onnxruntime; conversions in WebAssembly, text conditioning
 *           converted once per phase
 *
 * Per denoising step of the last (largest) phase, first step left out (it carries the phase's setup), min and
 * median over the others: host <-> onnxruntime bytes (every feed of every call, every fetched output), CPU
 * milliseconds outside session.run (pipeline + backend; process CPU minus the CPU spent inside session.run, which
 * runs on the main thread and onnxruntime's pool), wall milliseconds. Then peak RSS (getrusage) and whether the
 * image is byte-identical to the other path's.
 *
 *   npx tsx gpu-runner/bench/backend.ts [--sizes 2048,4096] [--steps 6] [--paths before,after] [--provider cpu]
 *
 * `--provider webgpu` is for a GPU machine (bench/webgpu-device.sh); the figures above are the CPU provider's.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { halfCodec } from "../src/models/onnx/halfCodec";
import { loadOnnxModels } from "../src/models/onnx/onnxModels";
import { threadCpuMs } from "../src/models/onnx/threadCpu";
import { runAccDiffusion } from "../src/pipeline/accdiffusion";
import { writeSdxlShapedBundle } from "./sdxlShapedBundle";

type Path = "before" | "after";
interface Args {
  sizes: number[];
  steps: number;
  paths: Path[];
  provider: "cpu" | "webgpu";
  child?: { size: number; path: Path; dir: string };
}

function parseArgs(argv: string[]): Args {
  const a: Args = { sizes: [2048, 4096], steps: 6, paths: ["before", "after"], provider: "cpu" };
  for (let k = 0; k < argv.length; k += 2) {
    const v = argv[k + 1];
    if (argv[k] === "--sizes") a.sizes = v.split(",").map(Number);
    else if (argv[k] === "--steps") a.steps = Number(v);
    else if (argv[k] === "--paths") a.paths = v.split(",") as Path[];
    else if (argv[k] === "--provider") a.provider = v === "webgpu" ? "webgpu" : "cpu";
    else if (argv[k] === "--child") {
      const [size, path, dir] = v.split(":");
      a.child = { size: Number(size), path: path as Path, dir };
    } else throw new Error(`unknown argument ${argv[k]}`);
  }
  return a;
}

const round = (x: number) => Math.round(x * 10) / 10;
function summary(v: number[]): { min: number; median: number } {
  const s = v.length > 1 ? v.slice(1) : v;
  const sorted = [...s].sort((x, y) => x - y);
  return { min: round(sorted[0]), median: round(sorted[Math.floor(sorted.length / 2)]) };
}

async function runChild(
  size: number,
  path: Path,
  dir: string,
  steps: number,
  provider: Args["provider"],
): Promise<void> {
  const before = path === "before";
  halfCodec.enabled = !before;
  const models = await loadOnnxModels(dir, {
    provider,
    controlPath: before ? "separate" : "fused",
    halfCopies: !before,
    // One onnxruntime thread: its pool threads would otherwise spin after each run, on CPU time outside session.run.
    intraOpNumThreads: 1,
  });
  interface Step {
    phase: number;
    wallMs: number;
    cpuMs: number;
    runCpuMs: number;
    threadCpuMs: number;
    runThreadCpuMs: number;
    runMs: number;
    bytes: number;
    runs: number;
  }
  const stepsSeen: Step[] = [];
  let lastWall = performance.now();
  let lastCpu = process.cpuUsage();
  let lastThread = threadCpuMs() ?? Number.NaN;
  let lastIo = models.ioStats();
  const result = await runAccDiffusion(
    models,
    {
      prompt: "a cat and a dog are playing on the lawn",
      width: size,
      height: size,
      steps,
      seed: 1,
      useControlNet: true,
    },
    {
      embeddingCache: null,
      onProgress: (e) => {
        const t = performance.now();
        const c = process.cpuUsage(lastCpu);
        const thread = threadCpuMs() ?? Number.NaN;
        const io = models.ioStats();
        stepsSeen.push({
          phase: e.phase,
          wallMs: t - lastWall,
          cpuMs: (c.user + c.system) / 1000,
          runCpuMs: io.runCpuMs - lastIo.runCpuMs,
          threadCpuMs: thread - lastThread,
          runThreadCpuMs: io.runThreadCpuMs - lastIo.runThreadCpuMs,
          runMs: io.runMs - lastIo.runMs,
          bytes: io.bytesIn + io.bytesOut - lastIo.bytesIn - lastIo.bytesOut,
          runs: io.runs - lastIo.runs,
        });
        lastIo = io;
        lastWall = performance.now();
        lastCpu = process.cpuUsage();
        lastThread = threadCpuMs() ?? Number.NaN;
      },
    },
  );
  const last = Math.max(...stepsSeen.map((s) => s.phase));
  const ls = stepsSeen.filter((s) => s.phase === last);
  const lastCalls = result.phases[result.phases.length - 1].calls;
  const out = {
    size,
    path,
    provider: models.provider,
    steps,
    lastPhase: {
      stepMB: summary(ls.map((s) => s.bytes / 1e6)),
      cpuMsOutsideRun: summary(ls.map((s) => s.cpuMs - s.runCpuMs)),
      // The main thread alone (Linux): the pipeline and the backend, without V8's helper threads or tsx's loader.
      mainThreadCpuMsOutsideRun: summary(ls.map((s) => s.threadCpuMs - s.runThreadCpuMs)),
      cpuMsOutsideRunPerStep: ls.map((s) => round(s.cpuMs - s.runCpuMs)),
      wallMsOutsideRun: summary(ls.map((s) => s.wallMs - s.runMs)),
      wallMs: summary(ls.map((s) => s.wallMs)),
      runsPerStep: ls[ls.length - 1].runs,
      controlnetBatches: lastCalls.controlnetBatchSizes.length / steps,
    },
    peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    imageSha256: createHash("sha256").update(result.image.data).digest("hex"),
    // Every phase's final latents (float32 bytes): the strict check (the cheap VAE saturates most pixels).
    latentsSha256: result.phases
      .reduce(
        (h, p) => h.update(new Uint8Array(p.latents.buffer, p.latents.byteOffset, p.latents.byteLength)),
        createHash("sha256"),
      )
      .digest("hex"),
  };
  await models.dispose();
  console.log(JSON.stringify(out));
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.child) return runChild(args.child.size, args.child.path, args.child.dir, args.steps, args.provider);
  const dir = await mkdtemp(join(tmpdir(), "bench-backend-"));
  try {
    await writeSdxlShapedBundle(dir);
    const self = fileURLToPath(import.meta.url);
    for (const size of args.sizes) {
      const rows: Record<string, unknown>[] = [];
      for (const path of args.paths) {
        const r = spawnSync(
          process.execPath,
          [
            "--import",
            "tsx",
            "--max-old-space-size=16384",
            self,
            "--steps",
            String(args.steps),
            "--provider",
            args.provider,
            "--child",
            `${size}:${path}:${dir}`,
          ],
          { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 16 << 20 },
        );
        if (r.status !== 0) throw new Error(`bench child ${size} ${path} failed (status ${r.status})`);
        const row = JSON.parse(r.stdout.trim().split("\n").pop()!) as Record<string, unknown>;
        rows.push(row);
        console.log(JSON.stringify(row));
      }
      if (rows.length === 2) {
        const same = rows[0].imageSha256 === rows[1].imageSha256 && rows[0].latentsSha256 === rows[1].latentsSha256;
        console.log(JSON.stringify({ size, imagesAndLatentsIdentical: same }));
        if (!same) process.exitCode = 1;
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
