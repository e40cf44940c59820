/** Entry point of the `accdiff` bin (gpu-runner/bin/accdiff.mjs imports this under tsx). */
import { main, reportError } from "./cli";

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.exitCode = reportError(e);
  },
);
