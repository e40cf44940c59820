/**
 * Command-line flags for the method's parameters, mapped onto the public GenerationRequest so that the CLI validates
 * exactly like the API (same schema, same bounds, scaled to the bundle's base resolution). Flags, their fields and
 * their help come from the parameter table (shared parameters.ts).
 */
import {
  DEFAULT_LIMITS,
  formatPath,
  type GenerationRequest,
  makeGenerationRequestSchema,
  type ParameterName,
  type ParameterRow,
  parameterRows,
  type ResolvedRequest,
  resolveRequest,
  SWITCHES,
} from "@accdiff/shared";
import { z } from "zod";
import { usageError } from "./errors";

/** The table's rows that have a CLI flag. */
const FLAGGED = parameterRows().filter(([, r]) => r.flag !== null) as [
  ParameterName,
  ParameterRow<unknown, unknown> & { flag: NonNullable<ParameterRow<unknown, unknown>["flag"]> },
][];

/** flag -> request field, for every numeric method parameter (parameters.ts). */
export const NUMBER_FLAGS: Record<string, ParameterName> = Object.fromEntries(
  FLAGGED.filter(([, r]) => r.flag.type === "number").map(([k, r]) => [r.flag.name, k]),
);

/** --no-<flag> turns a mechanism off (ablations). */
export const SWITCH_FLAGS = Object.fromEntries(Object.entries(SWITCHES).map(([k, s]) => [s.flag, k])) as {
  [K in keyof typeof SWITCHES as (typeof SWITCHES)[K]["flag"]]: K;
};

export function parseSize(s: string): { width: number; height: number } {
  const m = /^(\d+)x(\d+)$/i.exec(s.trim());
  if (!m) throw usageError(`--size must look like 2048x2048, got '${s}'`);
  return { width: Number(m[1]), height: Number(m[2]) };
}

function parseNumber(flag: string, v: string): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n)) throw usageError(`--${flag} must be a number, got '${v}'`);
  return n;
}

/** parseArgs options for the request flags (strings; numbers are checked after parsing). */
export function requestFlagOptions() {
  const opts: Record<string, { type: "string" | "boolean"; short?: string }> = { size: { type: "string", short: "s" } };
  for (const [, { flag }] of FLAGGED) {
    opts[flag.name] = {
      type: flag.type === "boolean" ? "boolean" : "string",
      ...(flag.short ? { short: flag.short } : {}),
    };
  }
  for (const f of Object.keys(SWITCH_FLAGS)) {
    opts[f] = { type: "boolean" };
    opts[`no-${f}`] = { type: "boolean" };
  }
  return opts;
}

/** Builds the GenerationRequest from parsed flag values. */
export function requestFromFlags(
  values: Record<string, string | boolean | undefined>,
  defaults: { size?: string } = {},
): GenerationRequest {
  const prompt = values.prompt;
  if (typeof prompt !== "string" || prompt.trim() === "") throw usageError("--prompt is required");
  const sizeFlag = (values.size as string | undefined) ?? defaults.size;
  if (!sizeFlag) throw usageError("--size is required, e.g. --size 2048x2048");
  const req: Record<string, unknown> = { ...parseSize(sizeFlag) };
  for (const [key, { flag }] of FLAGGED) {
    const v = values[flag.name];
    if (flag.type === "boolean") {
      if (v) req[key] = true;
    } else if (typeof v === "string") {
      req[key] = flag.type === "number" ? parseNumber(flag.name, v) : v;
    }
  }
  const switches: Record<string, boolean> = {};
  for (const [flag, key] of Object.entries(SWITCH_FLAGS)) {
    if (values[`no-${flag}`]) switches[key] = false;
    else if (values[flag]) switches[key] = true;
  }
  if (Object.keys(switches).length) req.switches = switches;
  return req as GenerationRequest;
}

const FIELD_TO_FLAG: Record<string, string> = Object.fromEntries([
  ...FLAGGED.map(([k, r]) => [k, `--${r.flag.name}`]),
  ["width", "--size (width)"],
  ["height", "--size (height)"],
]);

/**
 * The method-parameter lines of the help, from the table: `--flag ARG   help (default)`.
 * Width, height and the switches have their own lines (--size, --no-<switch>).
 */
export function methodFlagHelp(): string {
  const lines: string[] = [];
  for (const [key, r] of FLAGGED) {
    if (key === "prompt") continue; // in each command's usage
    const left = `  --${r.flag.name}${r.flag.arg && r.flag.type !== "boolean" ? ` ${r.flag.arg}` : ""}`;
    const d = r.default;
    const shown = typeof d === "number" || (typeof d === "string" && d.length < 12) ? ` (${d})` : "";
    lines.push(`${left.padEnd(33)} ${r.help}${shown}`);
  }
  return lines.join("\n");
}

/**
 * Validates with the API's schema for this bundle (its base resolution, and its attention divisor for the sizes
 * referenceCompat refuses); the first problem becomes one readable line.
 */
export function resolveCliRequest(
  req: GenerationRequest,
  bundle: { baseResolution: number; attentionDivisor: number },
  maxSide = DEFAULT_LIMITS.maxSide,
): ResolvedRequest {
  const { baseResolution, attentionDivisor } = bundle;
  const limits = { ...DEFAULT_LIMITS, baseResolution, attentionDivisor, maxSide: Math.max(maxSide, baseResolution) };
  const parsed = makeGenerationRequestSchema(limits).safeParse(req);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = formatPath(issue.path);
    const flag = FIELD_TO_FLAG[path] ?? (path.startsWith("switches.") ? `--no-${path.slice(9)}` : path || "request");
    throw usageError(`${flag}: ${issue.message}`);
  }
  try {
    return resolveRequest(req, limits);
  } catch (e) {
    if (e instanceof z.ZodError) throw usageError(e.issues[0].message);
    throw e;
  }
}
