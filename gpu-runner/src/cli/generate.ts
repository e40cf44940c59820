/**
 * `accdiff generate`: one render on this machine, every intermediate written out (outputs.ts).
 * `accdiff upscale` is the same run starting from the user's image (upscale.ts).
 */
import { existsSync, statSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { type GenerationRequest, requestPlan } from "@accdiff/shared";
import { toBundleInfo } from "../models/index";
import type { RgbImage } from "../pipeline/index";
import { InvalidRequestError, resolveParams, runAccDiffusion, UnsupportedSizeError } from "../pipeline/index";
import { toPipelineRequest } from "../runner/requestMapping";
import { type FlagOptions, type FlagValues, intFlag, parseFlags, providerValue } from "./args";
import { badInputError, CliError, USAGE_EXIT, usageError } from "./errors";
import { bundleDir, loadModels, readBundle } from "./loadBundle";
import { writeOutputs } from "./outputs";
import { progressReporter } from "./progressBar";
import { requestFlagOptions, requestFromFlags, resolveCliRequest } from "./requestFlags";

/** Flags shared by generate and upscale beyond the method's parameters. */
export function runFlagOptions(): FlagOptions {
  return {
    ...requestFlagOptions(),
    bundle: { type: "string" },
    provider: { type: "string" },
    "device-id": { type: "string" },
    out: { type: "string", short: "o" },
    quiet: { type: "boolean", short: "q" },
  };
}

export interface StartImage {
  image: RgbImage;
  sha256: string;
  path: string;
}

function defaultOutDir(): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*$/, "").replace("T", "-");
  return resolve("out", `accdiff-${stamp}`);
}

/** The pipeline's refusals are the user's to fix: usage errors (exit 2), one line. */
function pipelineRefusal(e: unknown): never {
  if (e instanceof InvalidRequestError || e instanceof UnsupportedSizeError) throw new CliError(e.message, USAGE_EXIT);
  throw e;
}

/** Parses, validates (before loading any model), runs and writes. Returns the exit code. */
export async function runRender(values: FlagValues, start?: () => Promise<StartImage>): Promise<number> {
  const req: GenerationRequest = requestFromFlags(values);
  const provider = providerValue("--provider", (values.provider as string | undefined) ?? "auto");
  const deviceId = intFlag(values, "device-id", 0, 255);
  const dir = await bundleDir(values.bundle as string | undefined);
  const info = toBundleInfo(await readBundle(dir));
  const input = start ? await start() : undefined;
  if (input) req.image = { sha256: input.sha256, width: input.image.width, height: input.image.height };
  const request = resolveCliRequest(req, info);
  if (!request.switches.multidiffusion && !request.switches.dilatedSampling) {
    // Checked here too (the pipeline refuses it) so that nothing is loaded for a request that cannot run.
    throw usageError(
      "--no-multidiffusion and --no-dilated-sampling together leave nothing to upscale with: at least one of MultiDiffusion and dilated sampling must be on",
    );
  }
  const pipelineRequest = toPipelineRequest(request, input?.image);
  let lastScale = 1;
  try {
    resolveParams(info, pipelineRequest);
    // request.image is set exactly when there is an input image, so this is the plan the pipeline will run.
    const plan = requestPlan(request, info.baseResolution, info.vaeScaleFactor);
    lastScale = plan.upscales.at(-1)?.scale ?? 1;
  } catch (e) {
    pipelineRefusal(e);
  }
  const out = resolve((values.out as string | undefined) ?? defaultOutDir());
  if (existsSync(out) && !statSync(out).isDirectory()) throw badInputError(`--out ${out} is a file, not a folder`);

  const quiet = values.quiet === true;
  const say = (line: string) => {
    if (!quiet) process.stderr.write(`${line}\n`);
  };
  const models = await loadModels(dir, { provider, deviceId, onInfo: say });
  try {
    // Created only now, so that a bad flag or a missing provider leaves nothing behind.
    try {
      await mkdir(out, { recursive: true });
    } catch (e) {
      throw new CliError(`cannot create the output folder ${out}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
    say(`bundle ${models.info.name} ${models.info.version} on ${models.provider}; seed ${request.seed}`);
    const t0 = performance.now();
    // Phases are shown by scale: "phase 2/4" is the 2x phase of a render that ends at 4x.
    const bar = progressReporter(quiet ? { write: () => true } : process.stderr, lastScale);
    let result: Awaited<ReturnType<typeof runAccDiffusion>>;
    try {
      result = await runAccDiffusion(models, pipelineRequest, { onProgress: (e) => bar.update(e) });
    } catch (e) {
      pipelineRefusal(e);
    } finally {
      bar.done();
    }
    const files = await writeOutputs(out, result, {
      request,
      bundle: { dir, info: models.info },
      provider: models.provider,
      inputImage: input?.path,
      wallMs: performance.now() - t0,
    });
    for (const w of result.warnings) say(`warning: ${w}`);
    const final = files.find((f) => f.startsWith("image.")) ?? "";
    const seconds = ((performance.now() - t0) / 1000).toFixed(1);
    process.stdout.write(
      `${join(out, final)} (${result.image.width}x${result.image.height}); ${files.length} files in ${out}; ${seconds} s\n`,
    );
    return 0;
  } finally {
    await models.dispose();
  }
}

export async function generateCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, runFlagOptions());
  return runRender(values);
}
