/** An error the CLI reports as one line (no stack trace) with a given exit code. */
export class CliError extends Error {
  override name = "CliError";
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/**
 * Exit codes, one rule for every command: 2 when the command line is wrong (an unknown flag, a bad or missing value,
 * a size or parameter the API would refuse, a file or folder a flag names that is not there or not readable, a
 * required setting missing from the environment); 1 when a run that was asked correctly fails (a model, the
 * provider, a bundle whose contents do not match the contract, writing the outputs).
 */
export const USAGE_EXIT = 2;

/** A usage error (exit 2) whose message points at --help. */
export const usageError = (message: string) => new CliError(`${message} (see accdiff --help)`, USAGE_EXIT);

/** A usage error about a file or folder a flag names, or a setting (exit 2): the message says what is wrong. */
export const badInputError = (message: string) => new CliError(message, USAGE_EXIT);
