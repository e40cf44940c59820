/**
 * The GPU runner as the product ships it: `accdiff serve` in its own process (CPU provider here), on a loopback port
 * it picks itself (port 0; the address comes from its "runner listening" log line). Its JSON log lines are kept, so
 * that callers can tell which jobs the runner actually accepted: a cache hit must never reach it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { fileURLToPath } from "node:url";

const CLI = fileURLToPath(new URL("../../gpu-runner/bin/accdiff.mjs", import.meta.url));

export interface RunnerLogLine {
  time?: string;
  level?: string;
  msg?: string;
  [field: string]: unknown;
}

export interface RunnerProcess {
  url: string;
  pid: number;
  /** Job ids in the order the runner accepted them (its "job accepted" log lines). */
  acceptedJobs(): string[];
  /** Every JSON log line so far. */
  logLines(): readonly RunnerLogLine[];
  /** Rejects when the process ends without stop() having been called (never resolves). */
  died: Promise<never>;
  /** SIGTERM (the runner drains and exits), SIGKILL after `graceMs`. Idempotent. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL at once (a crash: nothing is drained or reported); resolves when the process is gone. */
  kill(): Promise<void>;
}

export interface RunnerProcessOptions {
  bundleDir: string;
  secret: string;
  /** Every line the runner writes goes to this file when given. */
  logFile?: string;
  /** Loading the bundle and the ONNX sessions; default 120 s. */
  readyTimeoutMs?: number;
  /** Listen on this port (a restart on the same address); default 0, the runner picks one. */
  port?: number;
  /** The runner's job journal (STATE_DIR), so that a restarted runner answers for the jobs it had. */
  stateDir?: string;
}

/** A log line for an error message: a JSON line as its message and reason, anything else as it is. */
function describeLine(line: string): string {
  try {
    const e = JSON.parse(line) as RunnerLogLine;
    const why = e.reason ?? e.error;
    return `${e.msg ?? line}${why ? ` (${String(why)})` : ""}`;
  } catch {
    return line.trim();
  }
}

function lastLines(lines: string[], n = 2): string {
  return lines.slice(-n).map(describeLine).join(" | ") || "(no output)";
}

async function waitReady(url: string, child: ChildProcess, deadline: number, output: string[]): Promise<void> {
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the runner exited while loading (${child.exitCode ?? child.signalCode}): ${lastLines(output)}`);
    }
    try {
      const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
      const body = (await res.json()) as { ready?: boolean; detail?: string };
      if (res.status === 200 && body.ready) return;
      if (/failed/.test(body.detail ?? "")) throw new Error(`the runner cannot load its bundle: ${body.detail}`);
    } catch (e) {
      if (e instanceof Error && e.message.startsWith("the runner cannot")) throw e;
    }
    if (Date.now() > deadline) throw new Error(`the runner at ${url} was not ready in time: ${lastLines(output)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Starts `accdiff serve` and resolves once /readyz says the bundle is loaded. */
export async function startRunnerProcess(o: RunnerProcessOptions): Promise<RunnerProcess> {
  const deadline = Date.now() + (o.readyTimeoutMs ?? 120_000);
  const args = [CLI, "serve", "--host", "127.0.0.1", "--port", String(o.port ?? 0), "--bundle", o.bundleDir];
  args.push("--provider", "cpu", ...(o.stateDir ? ["--state-dir", o.stateDir] : []));
  const child = spawn(process.execPath, args, {
    env: { ...process.env, RUNNER_SECRET: o.secret },
    stdio: ["ignore", "pipe", "pipe"],
  });
  // A demo killed abruptly must not leave a runner behind.
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  const file: WriteStream | null = o.logFile ? createWriteStream(o.logFile) : null;
  const raw: string[] = [];
  const lines: RunnerLogLine[] = [];
  const accepted: string[] = [];
  let listening: (url: string) => void = () => {};
  const address = new Promise<string>((resolve) => {
    listening = resolve;
  });
  const onText = (chunk: Buffer, carry: { rest: string }) => {
    const text = carry.rest + chunk.toString("utf8");
    const parts = text.split("\n");
    carry.rest = parts.pop() ?? "";
    for (const line of parts) {
      file?.write(`${line}\n`);
      raw.push(line);
      if (raw.length > 50) raw.shift();
      if (!line.startsWith("{")) continue;
      let entry: RunnerLogLine;
      try {
        entry = JSON.parse(line) as RunnerLogLine;
      } catch {
        continue;
      }
      lines.push(entry);
      if (entry.msg === "runner listening" && typeof entry.url === "string") listening(entry.url);
      if (entry.msg === "job accepted" && typeof entry.jobId === "string") accepted.push(entry.jobId);
    }
  };
  const outCarry = { rest: "" };
  const errCarry = { rest: "" };
  child.stdout?.on("data", (c: Buffer) => onText(c, outCarry));
  child.stderr?.on("data", (c: Buffer) => onText(c, errCarry));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let stopping: Promise<void> | null = null;
  const died = new Promise<never>((_, reject) => {
    child.once("exit", (code, signal) => {
      if (!stopping) reject(new Error(`the runner exited unexpectedly (${code ?? signal}): ${lastLines(raw)}`));
    });
  });
  died.catch(() => {}); // observed by whoever races against it

  const stop = (graceMs = 10_000) => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
        await exited;
        clearTimeout(timer);
      }
      process.off("exit", killOnExit);
      await new Promise<void>((r) => (file ? file.end(() => r()) : r()));
    })();
    return stopping;
  };

  const kill = () => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await exited;
      }
      process.off("exit", killOnExit);
      await new Promise<void>((r) => (file ? file.end(() => r()) : r()));
    })();
    return stopping;
  };

  try {
    const url = await Promise.race([
      address,
      exited.then(() => {
        throw new Error(`the runner exited at start (${child.exitCode ?? child.signalCode}): ${lastLines(raw)}`);
      }),
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`the runner did not start listening: ${lastLines(raw)}`)), 60_000).unref(),
      ),
    ]);
    await waitReady(url, child, deadline, raw);
    return {
      url,
      pid: child.pid ?? -1,
      died,
      acceptedJobs: () => [...accepted],
      logLines: () => lines,
      stop,
      kill,
    };
  } catch (e) {
    await stop(2000);
    throw e;
  }
}
