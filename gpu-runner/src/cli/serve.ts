/**
 * `accdiff serve`: the runner service (what Dockerfile.gpu runs). Flags override the environment:
 *
 *   --port        PORT            (8080)
 *   --host        HOST            (0.0.0.0: the container's port must be reachable; every job route is signed)
 *   --bundle      BUNDLE_DIR      (the toy world, generated on demand)
 *   --provider    PROVIDER        (auto)
 *   --device-id   DEVICE_ID
 *   --queue-capacity QUEUE_CAPACITY (4 jobs waiting behind the running one)
 *   --state-dir   STATE_DIR       (job journal; in memory when unset)
 *   RUNNER_SECRET from the environment only (a flag would show in `ps`).
 *
 * HTTP answers at once (/healthz alive, /readyz 503 "loading" until the bundle is loaded); a bundle that fails to
 * load stops the process with one line and exit 1. SIGTERM drains (exitOnSignals).
 */
import type { OnnxModels } from "../models/index";
import { type GpuMemoryProbe, nvidiaSmiProbe } from "../runner/gpuMemory";
import { createPipelineEngine } from "../runner/pipelineEngine";
import { jsonLogger } from "../server/log";
import { exitOnSignals, startRunnerService } from "../server/serve";
import { intValue, parseFlags, providerValue } from "./args";
import { badInputError } from "./errors";
import { bundleDir, loadModels, readBundle } from "./loadBundle";
import { runnerVersion } from "./version";

function setting(values: Record<string, unknown>, flag: string, env: string): string | undefined {
  const v = values[flag];
  if (typeof v === "string") return v;
  const e = process.env[env];
  return e === undefined || e === "" ? undefined : e;
}

export async function serveCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    port: { type: "string" },
    host: { type: "string" },
    bundle: { type: "string" },
    provider: { type: "string" },
    "device-id": { type: "string" },
    "queue-capacity": { type: "string" },
    "state-dir": { type: "string" },
  });
  const secret = process.env.RUNNER_SECRET;
  if (!secret) throw badInputError("RUNNER_SECRET is not set: the runner only accepts jobs signed with it");
  const port = intValue("--port/PORT", setting(values, "port", "PORT") ?? "8080", 0, 65535);
  const hostname = setting(values, "host", "HOST") ?? "0.0.0.0";
  const provider = providerValue("--provider/PROVIDER", setting(values, "provider", "PROVIDER") ?? "auto");
  const device = setting(values, "device-id", "DEVICE_ID");
  const deviceId = device === undefined ? undefined : intValue("--device-id/DEVICE_ID", device, 0, 255);
  const queueCapacity = intValue(
    "--queue-capacity/QUEUE_CAPACITY",
    setting(values, "queue-capacity", "QUEUE_CAPACITY") ?? "4",
    0,
    1000,
  );
  const stateDir = setting(values, "state-dir", "STATE_DIR");
  const dir = await bundleDir(setting(values, "bundle", "BUNDLE_DIR"));
  await readBundle(dir);

  const version = runnerVersion();
  const log = jsonLogger({ base: { service: "accdiff-runner" } });
  let probe: GpuMemoryProbe | null = null;
  const models: Promise<OnnxModels> = loadModels(dir, { provider, deviceId, onInfo: (m) => log.info(m) });
  const engine = createPipelineEngine({ models, log, gpuMemory: () => probe?.current() ?? null });
  const service = await startRunnerService({ engine, secret, port, hostname, queueCapacity, stateDir, log, version });
  exitOnSignals(service);
  let loaded: OnnxModels;
  try {
    loaded = await models;
  } catch (e) {
    await service.shutdown();
    throw e;
  }
  if (loaded.provider === "cuda") probe = nvidiaSmiProbe(deviceId ?? 0);
  const { name, version: bundleVersion, hash } = loaded.info;
  log.info("ready", { bundle: { dir, name, version: bundleVersion, hash }, provider: loaded.provider, version });
  // Runs until a signal: exitOnSignals drains the jobs and exits.
  return new Promise<number>(() => {});
}
