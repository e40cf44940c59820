/** The runner's version: gpu-runner/package.json's (what --version and /healthz report). */
import { readFileSync } from "node:fs";

export function runnerVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: string };
  return pkg.version ?? "0.0.0";
}
