/**
 * CPU time of the calling thread, in milliseconds, where the platform tells it (Linux: /proc/thread-self/schedstat,
 * nanoseconds on the CPU), else null. process.cpuUsage() counts every thread of the process: V8's GC helpers and,
 * under tsx, its module loader's thread (whose own GCs run while a job does), so measures of what the pipeline and
 * the backend cost on the thread that runs them use this (bench/backend.ts, IoStats.runThreadCpuMs).
 */
import { readFileSync } from "node:fs";

let available = process.platform === "linux";

export function threadCpuMs(): number | null {
  if (!available) return null;
  try {
    const text = readFileSync("/proc/thread-self/schedstat", "latin1");
    return Number(text.slice(0, text.indexOf(" "))) / 1e6;
  } catch {
    available = false;
    return null;
  }
}
