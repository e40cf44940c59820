/**
 * Flag parsing for every command: node's parseArgs in strict mode, its errors turned into one readable line, and
 * the small value parsers the commands share.
 */
import { parseArgs } from "node:util";
import { usageError } from "./errors";

export type FlagOptions = Record<string, { type: "string" | "boolean"; short?: string }>;
export type FlagValues = Record<string, string | boolean | undefined>;

/** Parses `argv` strictly; unknown flags, missing values and stray arguments become usage errors. */
export function parseFlags(
  argv: string[],
  options: FlagOptions,
  positionals = 0,
): { values: FlagValues; positionals: string[] } {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: positionals > 0 });
  } catch (e) {
    throw usageError(describeParseError(e));
  }
  if (parsed.positionals.length > positionals) {
    throw usageError(`unexpected argument '${parsed.positionals[positionals]}'`);
  }
  return { values: parsed.values as FlagValues, positionals: parsed.positionals };
}

function describeParseError(e: unknown): string {
  const err = e as { code?: string; message?: string };
  const msg = String(err.message ?? e);
  const quoted = /'([^']+)'/.exec(msg)?.[1];
  switch (err.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown flag ${quoted ?? msg}`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE": {
      const flag = quoted?.split(" ")[0];
      return flag ? `${flag} needs a value` : msg.split("\n")[0];
    }
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `unexpected argument '${quoted ?? msg}'`;
    default:
      return msg.split("\n")[0];
  }
}

/** An optional integer flag within [min, max]. */
export function intFlag(values: FlagValues, flag: string, min: number, max: number): number | undefined {
  const v = values[flag];
  if (v === undefined) return undefined;
  return intValue(`--${flag}`, String(v), min, max);
}

export function intValue(name: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isInteger(n) || n < min || n > max) {
    throw usageError(`${name} must be an integer from ${min} to ${max}, got '${v}'`);
  }
  return n;
}

export const PROVIDERS = ["cpu", "cuda", "webgpu", "auto"] as const;
export type ProviderFlag = (typeof PROVIDERS)[number];

export function providerValue(name: string, v: string): ProviderFlag {
  if (!(PROVIDERS as readonly string[]).includes(v)) {
    throw usageError(`${name} must be one of ${PROVIDERS.join(", ")}, got '${v}'`);
  }
  return v as ProviderFlag;
}
