/**
 * The accdiff command line: dispatch to one module per command (imported on demand, so `--help` and usage errors
 * answer without loading onnxruntime or sharp), and one place that turns every failure into one line on stderr.
 */
import { CliError, usageError } from "./errors";
import { HELP } from "./help";
import { runnerVersion } from "./version";

type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, () => Promise<Command>> = {
  generate: async () => (await import("./generate")).generateCommand,
  upscale: async () => (await import("./upscale")).upscaleCommand,
  bundle: async () => (await import("./bundleCheck")).bundleCommand,
  serve: async () => (await import("./serve")).serveCommand,
};

const wantsHelp = (args: string[]) => args.includes("--help") || args.includes("-h");

/** Runs a command line; resolves with the exit code. Throws what `reportError` reports. */
export async function main(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined) throw usageError("a command is needed: generate, upscale, bundle check or serve");
  if (cmd === "--help" || cmd === "-h" || cmd === "help") {
    const topic = cmd === "help" && rest[0] ? rest[0] : "main";
    if (!HELP[topic]) throw usageError(`no help for '${topic}'`);
    out(`${HELP[topic]}\n`);
    return 0;
  }
  if (cmd === "--version" || cmd === "-V") {
    out(`accdiff ${runnerVersion()}\n`);
    return 0;
  }
  const load = COMMANDS[cmd];
  if (!load) {
    throw usageError(cmd.startsWith("-") ? `unknown flag ${cmd} before a command` : `unknown command '${cmd}'`);
  }
  if (wantsHelp(rest)) {
    out(`${HELP[cmd]}\n`);
    return 0;
  }
  return (await load())(rest);
}

const oneLine = (s: string) => s.replace(/\s*\n\s*/g, "; ").trim();

/** One line on stderr, never a stack trace (unless ACCDIFF_DEBUG=1 for unexpected errors); returns the exit code. */
export function reportError(e: unknown, err: (s: string) => void = (s) => process.stderr.write(s)): number {
  if (e instanceof CliError) {
    err(`accdiff: ${oneLine(e.message)}\n`);
    return e.exitCode;
  }
  const message = e instanceof Error ? e.message || e.name : String(e);
  err(`accdiff: ${oneLine(message)}\n`);
  if (process.env.ACCDIFF_DEBUG === "1" && e instanceof Error && e.stack) err(`${e.stack}\n`);
  return 1;
}
