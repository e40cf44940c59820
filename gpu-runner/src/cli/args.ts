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
    parsed = parseArgs({
      args: joinNegativeValues(argv, options),
      options,
      strict: true,
      allowPositionals: positionals > 0,
    });
  } catch (e) {
    throw usageError(describeParseError(e));
  }
  if (parsed.positionals.length > positionals) {
    throw usageError(`unexpected argument '${parsed.positionals[positionals]}'`);
  }
  return { values: parsed.values as FlagValues, positionals: parsed.positionals };
}

/**
 * `--seed -1` as `--seed=-1`: node's parseArgs takes a value that starts with a dash for a flag, so a negative number
 * would be reported as a missing value; joined, it reaches the flag's own check, which says what the range is.
 */
function joinNegativeValues(argv: string[], options: FlagOptions): string[] {
  const takesValue = (arg: string) => {
    if (arg.startsWith("--")) return options[arg.slice(2)]?.type === "string";
    if (/^-[A-Za-z]$/.test(arg)) return Object.values(options).some((o) => o.short === arg[1] && o.type === "string");
    return false;
  };
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const next = argv[i + 1];
    if (arg === "--") {
      out.push(...argv.slice(i));
      break;
    }
    if (next !== undefined && takesValue(arg) && /^-(\d|\.\d|Infinity|NaN)/.test(next)) {
      out.push(arg.startsWith("--") ? `${arg}=${next}` : `${arg}${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
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
  if (min === 0 && n < 0) throw usageError(`${name} must be >= 0, got '${v}'`);
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
