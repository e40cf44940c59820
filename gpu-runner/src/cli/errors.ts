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

/** 2 = usage error (bad flags, bad values), like most Unix tools. */
export const usageError = (message: string) => new CliError(`${message} (see accdiff --help)`, 2);
