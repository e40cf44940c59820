/**
 * The whole product on loopback: the toy-world bundle (built when missing), one CPU runner process and the worker,
 * wired together with fresh random secrets. `stop()` ends everything that was started, in reverse order, and is safe
 * to call more than once (from a `finally`, a signal handler, or both).
 */
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureToyWorld } from "../../gpu-runner/src/toyworld/index";
import { type RunnerProcess, startRunnerProcess } from "./runnerProcess";
import { startWorkerDev, type WorkerDev } from "./workerDev";

export interface BundleFacts {
  dir: string;
  name: string;
  version: string;
  hash: string;
  baseResolution: number;
  /** Image pixels per latent pixel (8 for SDXL and the toy world). */
  vaeScaleFactor: number;
}

export interface Stack {
  bundle: BundleFacts;
  workerUrl: string;
  runner: RunnerProcess;
  adminToken: string;
  stop(): Promise<void>;
}

export interface StackOptions {
  /** Where the runner's log is appended (none when absent). */
  logDir?: string;
  /** Progress lines ("building the toy bundle", "runner ready at ..."). */
  say?: (line: string) => void;
}

const secret = (label: string) => `${label}-${randomBytes(24).toString("hex")}`;

/** bundle.json's identity: the worker puts the hash in every cache key and names the bundle in every job. */
export async function readBundleFacts(dir: string): Promise<BundleFacts> {
  const json = JSON.parse(await readFile(join(dir, "bundle.json"), "utf8")) as Partial<BundleFacts>;
  const { name, version, hash, baseResolution, vaeScaleFactor } = json;
  if (typeof name !== "string" || typeof hash !== "string" || typeof baseResolution !== "number") {
    throw new Error(`${dir}/bundle.json lacks name, hash or baseResolution`);
  }
  return { dir, name, version: String(version ?? ""), hash, baseResolution, vaeScaleFactor: vaeScaleFactor ?? 8 };
}

export async function startStack(o: StackOptions = {}): Promise<Stack> {
  const say = o.say ?? (() => {});
  let runner: RunnerProcess | null = null;
  let worker: WorkerDev | null = null;
  let persistDir: string | null = null;
  let stopping: Promise<void> | null = null;
  // The runner first, while the worker can still take its last events (a job it hands back on shutdown), then the
  // worker, then its storage.
  const stop = () => {
    stopping ??= (async () => {
      const errors: unknown[] = [];
      const attempt = (p: Promise<unknown> | undefined) => p?.catch((e: unknown) => errors.push(e));
      await attempt(runner?.stop(5000));
      await attempt(worker?.stop());
      if (persistDir) await attempt(rm(persistDir, { recursive: true, force: true }));
      if (errors.length > 0) throw errors[0];
    })();
    return stopping;
  };
  try {
    say("toy-world bundle: checking (built when missing)");
    const bundle = await readBundleFacts(await ensureToyWorld());
    const runnerSecret = secret("runner");
    const adminToken = secret("admin");
    if (o.logDir) await mkdir(o.logDir, { recursive: true });
    say("runner: starting accdiff serve (CPU) and loading the bundle");
    runner = await startRunnerProcess({
      bundleDir: bundle.dir,
      secret: runnerSecret,
      logFile: o.logDir ? join(o.logDir, "runner.log") : undefined,
    });
    say(`runner: ready at ${runner.url} (pid ${runner.pid})`);

    persistDir = await mkdtemp(join(tmpdir(), "accdiff-demo-worker-"));
    say("worker: starting the Workers runtime (local KV, R2 and Durable Objects)");
    worker = await startWorkerDev({
      runnerUrls: [runner.url],
      bundleId: bundle.name,
      bundleHash: bundle.hash,
      baseResolution: bundle.baseResolution,
      adminToken,
      runnerSecret,
      urlSigningSecret: secret("urls"),
      persistDir,
    });
    say(`worker: ready at ${worker.url}`);
    return { bundle, workerUrl: worker.url, runner, adminToken, stop };
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }
}
