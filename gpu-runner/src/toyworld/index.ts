/**
 * The toy world: a designed, CPU-fast model bundle with SDXL's layout (README.md).
 * `buildToyWorld` writes it; `ensureToyWorld` writes it only when missing or stale.
 */
import { mkdir, open, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateToyWorld, type ToyWorldFiles } from "./bundle";

export interface BundleSummary {
  dir: string;
  hash: string;
  /** Relative paths written, bundle.json included. */
  files: string[];
  bytes: number;
}

/** `models/toy-world` under the repository root. */
export const DEFAULT_TOY_WORLD_DIR = fileURLToPath(new URL("../../../models/toy-world", import.meta.url));

async function writeAll(dir: string, world: ToyWorldFiles): Promise<void> {
  for (const [path, bytes] of world.files) {
    const target = join(dir, ...path.split("/"));
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, bytes);
  }
}

function summary(dir: string, world: ToyWorldFiles): BundleSummary {
  let bytes = 0;
  for (const b of world.files.values()) bytes += b.length;
  return { dir, hash: world.hash, files: [...world.files.keys()], bytes };
}

/** Writes the bundle into `dir` (replacing the folder's previous contents atomically). */
export async function buildToyWorld(dir: string): Promise<BundleSummary> {
  const world = generateToyWorld();
  await replaceFolder(dir, world);
  return summary(dir, world);
}

async function replaceFolder(dir: string, world: ToyWorldFiles): Promise<void> {
  const staging = `${dir}.staging-${process.pid}-${Date.now()}`;
  await rm(staging, { recursive: true, force: true });
  await writeAll(staging, world);
  const old = `${dir}.old-${process.pid}-${Date.now()}`;
  const existed = await stat(dir).then(
    () => true,
    () => false,
  );
  if (existed) await rename(dir, old);
  await rename(staging, dir);
  if (existed) await rm(old, { recursive: true, force: true });
}

/** True when every file of `world` is in `dir` with exactly these bytes. */
async function isCurrent(dir: string, world: ToyWorldFiles): Promise<boolean> {
  for (const [path, bytes] of world.files) {
    let found: Buffer;
    try {
      found = await readFile(join(dir, ...path.split("/")));
    } catch {
      return false;
    }
    if (!found.equals(bytes)) return false;
  }
  return true;
}

const LOCK_STALE_MS = 120_000;

/** Runs `fn` holding `<dir>.lock` (so parallel test workers build once). */
async function withLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lock = `${dir}.lock`;
  await mkdir(dirname(lock), { recursive: true });
  for (;;) {
    try {
      const handle = await open(lock, "wx");
      await handle.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const age = await stat(lock).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (age > LOCK_STALE_MS) await rm(lock, { force: true });
      else await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}

/**
 * The bundle folder, built first if missing or stale (any file differing from what this code
 * generates). Safe to call from parallel processes.
 */
export async function ensureToyWorld(dir: string = DEFAULT_TOY_WORLD_DIR): Promise<string> {
  const world = generateToyWorld();
  if (await isCurrent(dir, world)) return dir;
  await withLock(dir, async () => {
    if (!(await isCurrent(dir, world))) await replaceFolder(dir, world);
  });
  return dir;
}

export { bundleHash, generateToyWorld } from "./bundle";
