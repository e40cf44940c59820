/**
 * The tiny real-architecture SDXL (`../shared/real-arch/models`) exported by our own tool
 * (`tools/sdxl-bundle/build_bundle.py`, fp32 on the CPU, offline), cached.
 *
 * `exportRealArchBundle()` returns the bundle folder and the exporter's smoke cases. The export is cached under
 * `node_modules/.cache/accdiff-real-arch/<key>/`, the key hashing the exporter's sources and every model file, so the
 * vitest tests and `npm run golden` of one CI run share one export, and any change to the tool re-exports. Concurrent
 * callers (processes) each export into a scratch folder and rename it into place; the first rename wins.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadOnnxModels, type OnnxModels } from "../models/index";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const TOOL_DIR = join(REPO_ROOT, "tools/sdxl-bundle");

/** `../shared/real-arch` beside the checkout (ACCDIFF_REAL_ARCH overrides). */
export function realArchRoot(): string {
  return resolve(process.env.ACCDIFF_REAL_ARCH ?? join(REPO_ROOT, "../shared/real-arch"));
}

export interface ModelFolders {
  base: string;
  controlnet: string;
  vae: string;
}

/**
 * The three diffusers folders of a model set: the pipeline folder (model_index.json), the ControlNetModel and the
 * AutoencoderKL (config.json `_class_name`).
 */
export function findModelFolders(models: string): ModelFolders {
  const found: Partial<ModelFolders> = {};
  for (const name of readdirSync(models).sort()) {
    const dir = join(models, name);
    if (!statSync(dir).isDirectory()) continue;
    if (existsSync(join(dir, "model_index.json"))) found.base ??= dir;
    else if (existsSync(join(dir, "config.json"))) {
      const cls = (JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as { _class_name?: string })._class_name;
      if (cls === "ControlNetModel") found.controlnet ??= dir;
      if (cls === "AutoencoderKL") found.vae ??= dir;
    }
  }
  for (const k of ["base", "controlnet", "vae"] as const) {
    if (!found[k])
      throw new Error(`${models}: no ${k} folder (a diffusers pipeline folder, a ControlNetModel, an AutoencoderKL)`);
  }
  return found as ModelFolders;
}

export interface ExportOptions {
  /** The model set (default `<real-arch>/models`). */
  models?: string;
  /** Python with torch + onnx (default ACCDIFF_PYTHON, else /usr/bin/python3 where present, else python3). */
  python?: string;
  /** Folder put on PYTHONPATH (default `<real-arch>/pydeps`). */
  pydeps?: string;
  /** Cache root (default `node_modules/.cache/accdiff-real-arch`). */
  cacheDir?: string;
  log?: (line: string) => void;
}

export interface ExportedBundle {
  /** The bundle folder (bundle.json written: a finished build). */
  bundleDir: string;
  /** The exporter's smoke cases (one tensor-manifest folder per case). */
  casesDir: string;
  /** The slow CLIPTokenizer's ids on the exporter's test prompts (tokenizer_ids.json). */
  tokenizerIdsFile: string;
  /** The exporter's log. */
  logFile: string;
  /** Wall time of the export in ms (of the run that made the cache entry). */
  exportMs: number;
  /** True when this call found the export in the cache. */
  cached: boolean;
}

function defaultPython(): string {
  if (process.env.ACCDIFF_PYTHON) return process.env.ACCDIFF_PYTHON;
  return existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      if (name.startsWith(".") || name === "__pycache__") continue;
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk(dir);
  return out;
}

/** Hash of the exporter's sources and every file of the model set: a change to either re-exports. */
export function exportKey(models: string): string {
  const h = createHash("sha256");
  for (const [root, files] of [
    [TOOL_DIR, filesUnder(TOOL_DIR).filter((f) => f.endsWith(".py") && !f.includes("/tests/"))],
    [models, filesUnder(models)],
  ] as const) {
    for (const f of files) {
      h.update(`${relative(root, f)}\n`);
      h.update(readFileSync(f));
    }
  }
  return h.digest("hex").slice(0, 24);
}

const inFlight = new Map<string, Promise<ExportedBundle>>();

export function exportRealArchBundle(opts: ExportOptions = {}): Promise<ExportedBundle> {
  const root = realArchRoot();
  const models = resolve(opts.models ?? join(root, "models"));
  const key = exportKey(models);
  const cacheRoot = resolve(opts.cacheDir ?? join(REPO_ROOT, "node_modules/.cache/accdiff-real-arch"));
  const id = join(cacheRoot, key);
  let p = inFlight.get(id);
  if (!p) {
    p = exportInto(id, models, { ...opts, pydeps: opts.pydeps ?? join(root, "pydeps") });
    inFlight.set(id, p);
    p.catch(() => inFlight.delete(id));
  }
  return p;
}

function entry(dir: string, exportMs: number, cached: boolean): ExportedBundle {
  return {
    bundleDir: join(dir, "bundle"),
    casesDir: join(dir, "work/cases"),
    tokenizerIdsFile: join(dir, "work/tokenizer_ids.json"),
    logFile: join(dir, "export.log"),
    exportMs,
    cached,
  };
}

async function exportInto(
  dir: string,
  models: string,
  opts: ExportOptions & { pydeps: string },
): Promise<ExportedBundle> {
  const done = join(dir, "export.json");
  if (existsSync(done) && existsSync(join(dir, "bundle/bundle.json"))) {
    const { exportMs } = JSON.parse(readFileSync(done, "utf8")) as { exportMs: number };
    return entry(dir, exportMs, true);
  }
  const folders = findModelFolders(models);
  rmSync(dir, { recursive: true, force: true }); // an unfinished entry (a killed run)
  mkdirSync(dirname(dir), { recursive: true });
  const scratch = mkdtempSync(`${dir}.tmp-`);
  const hfHome = mkdtempSync(join(tmpdir(), "accdiff-hf-"));
  const python = opts.python ?? defaultPython();
  const args = [
    join(TOOL_DIR, "build_bundle.py"),
    "--out",
    join(scratch, "bundle"),
    "--work",
    join(scratch, "work"),
    "--device",
    "cpu",
    "--dtype",
    "float32",
    "--base",
    folders.base,
    "--controlnet",
    folders.controlnet,
    "--vae",
    folders.vae,
    "--name",
    "tiny-sdxl-real-arch",
  ];
  opts.log?.(`exporting ${models} with ${python} tools/sdxl-bundle/build_bundle.py (fp32, cpu)`);
  const t0 = performance.now();
  const logFile = join(scratch, "export.log");
  const { code, output } = await run(python, args, {
    ...process.env,
    PYTHONPATH: [opts.pydeps, process.env.PYTHONPATH].filter(Boolean).join(":"),
    HF_HUB_OFFLINE: "1",
    TRANSFORMERS_OFFLINE: "1",
    HF_HOME: hfHome,
    PYTHONWARNINGS: "ignore",
  });
  const exportMs = performance.now() - t0;
  writeFileSync(logFile, output);
  rmSync(hfHome, { recursive: true, force: true });
  if (code !== 0) {
    const tail = output.trim().split("\n").slice(-15).join("\n");
    throw new Error(`the exporter failed (exit ${code}; log ${logFile}):\n${tail}`);
  }
  writeFileSync(join(scratch, "export.json"), `${JSON.stringify({ exportMs, models, python }, null, 2)}\n`);
  try {
    renameSync(scratch, dir);
  } catch (e) {
    // Another process finished first: use its export (identical inputs), drop ours.
    if (!existsSync(done)) throw e;
    rmSync(scratch, { recursive: true, force: true });
  }
  return entry(dir, exportMs, false);
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    const chunks: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => chunks.push(c));
    child.stderr.on("data", (c: Buffer) => chunks.push(c));
    child.on("error", (e) => reject(new Error(`cannot run ${cmd}: ${e.message}`)));
    child.on("close", (code) => resolveRun({ code: code ?? 1, output: Buffer.concat(chunks).toString("utf8") }));
  });
}

/**
 * The exported tiny real-architecture bundle, loaded on the CPU (for tests that want to run jobs on it, e.g. size
 * sweeps). Callers dispose the models.
 */
export async function openRealArchBundle(
  opts: ExportOptions = {},
): Promise<{ exported: ExportedBundle; models: OnnxModels }> {
  const exported = await exportRealArchBundle(opts);
  const models = await loadOnnxModels(exported.bundleDir, { provider: "cpu" });
  return { exported, models };
}
