/**
 * Finding and loading the model bundle for a command: `--bundle DIR`, or the toy world (generated on demand, well
 * under a second). Every way this can fail becomes one line naming the folder and the fix.
 */
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import {
  type BundleJson,
  ContractError,
  loadOnnxModels,
  type OnnxModels,
  ProviderUnavailableError,
  readBundleJson,
} from "../models/index";
import { ensureToyWorld } from "../toyworld/index";
import type { ProviderFlag } from "./args";
import { badInputError, CliError } from "./errors";

/** The bundle folder: the given one (checked to exist), or the toy world built if missing or stale. */
export async function bundleDir(flag: string | undefined): Promise<string> {
  if (flag === undefined) return ensureToyWorld();
  const dir = resolve(flag);
  if (!existsSync(dir)) throw badInputError(`bundle folder ${flag} does not exist`);
  if (!statSync(dir).isDirectory()) throw badInputError(`bundle ${flag} is not a folder`);
  return dir;
}

/** bundle.json only (cheap): what requests are validated against before any model is loaded. */
export async function readBundle(dir: string): Promise<BundleJson> {
  const r = await readBundleJson(dir);
  if (!r.ok) {
    throw new CliError(
      `${dir} is not a usable model bundle: ${summarise(r.problems)} (try: accdiff bundle check ${dir})`,
    );
  }
  return r.bundle;
}

function summarise(problems: readonly string[]): string {
  const first = problems[0] ?? "unknown problem";
  return problems.length > 1 ? `${first} (and ${problems.length - 1} more)` : first;
}

export interface LoadFlags {
  provider: ProviderFlag;
  deviceId?: number;
  /** Logs provider decisions (auto -> cpu) somewhere the user sees them. */
  onInfo?: (message: string) => void;
}

/** Loads the models, turning bundle and provider problems into one-line CLI errors. */
export async function loadModels(dir: string, f: LoadFlags): Promise<OnnxModels> {
  try {
    return await loadOnnxModels(dir, {
      provider: f.provider,
      deviceId: f.deviceId,
      logger: { info: (m) => f.onInfo?.(m), warn: (m) => f.onInfo?.(`warning: ${m}`) },
    });
  } catch (e) {
    if (e instanceof ProviderUnavailableError) throw new CliError(oneLine(e.message));
    if (e instanceof ContractError) {
      throw new CliError(
        `${dir} does not match the model contract: ${summarise(e.problems)} (details: accdiff bundle check ${dir})`,
      );
    }
    throw e;
  }
}

export const oneLine = (s: string) => s.replace(/\s*\n\s*/g, "; ").trim();
