/**
 * `accdiff bundle check DIR [--smoke] [--provider cpu|cuda|webgpu] [--verbose]`: checks a model bundle against the
 * contract (docs/model-bundle.md) and prints the report; exit 1 when the bundle does not match.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { checkBundle, formatCheckReport } from "../models/index";
import { intFlag, parseFlags, providerValue } from "./args";
import { badInputError, usageError } from "./errors";

export async function bundleCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== "check") {
    throw usageError(
      sub === undefined ? "bundle needs a subcommand: accdiff bundle check DIR" : `unknown bundle subcommand '${sub}'`,
    );
  }
  const { values, positionals } = parseFlags(
    rest,
    {
      smoke: { type: "boolean" },
      provider: { type: "string" },
      "device-id": { type: "string" },
      verbose: { type: "boolean", short: "v" },
    },
    1,
  );
  const dir = positionals[0];
  if (!dir) throw usageError("bundle check needs the bundle folder: accdiff bundle check DIR");
  if (!existsSync(dir)) throw badInputError(`bundle folder ${dir} does not exist`);
  const provider = providerValue("--provider", (values.provider as string | undefined) ?? "cpu");
  if (provider === "auto") throw usageError("bundle check needs an explicit --provider (cpu, cuda or webgpu)");
  const report = await checkBundle(resolve(dir), {
    smoke: values.smoke === true,
    provider,
    deviceId: intFlag(values, "device-id", 0, 255),
  });
  process.stdout.write(`${formatCheckReport(report, values.verbose === true)}\n`);
  return report.ok ? 0 : 1;
}
