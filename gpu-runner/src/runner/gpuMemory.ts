/**
 * GPU memory for /readyz, where it can be known: onnxruntime-node does not report device memory, so with the CUDA
 * provider we ask `nvidia-smi` (present wherever the NVIDIA container toolkit mounts the driver) in the background
 * and answer the last reading; readiness never waits for it.
 */
import { execFile } from "node:child_process";

export interface GpuMemory {
  totalBytes?: number;
  usedBytes?: number;
}

const MIB = 1024 * 1024;

/** Parses `nvidia-smi --query-gpu=memory.total,memory.used --format=csv,noheader,nounits` (MiB) for one device. */
export function parseNvidiaSmiMemory(stdout: string): GpuMemory | null {
  const line = stdout.split("\n").find((l) => l.trim() !== "");
  if (!line) return null;
  const [total, used] = line.split(",").map((s) => Number(s.trim()));
  if (!Number.isFinite(total) || !Number.isFinite(used)) return null;
  return { totalBytes: total * MIB, usedBytes: used * MIB };
}

export interface GpuMemoryProbe {
  /** The latest reading; null when unknown. */
  current(): GpuMemory | null;
  stop(): void;
}

/** Polls nvidia-smi for `deviceId` every `intervalMs`; a missing or failing nvidia-smi leaves the reading null. */
export function nvidiaSmiProbe(deviceId = 0, intervalMs = 15_000, command = "nvidia-smi"): GpuMemoryProbe {
  let last: GpuMemory | null = null;
  let stopped = false;
  const poll = () => {
    execFile(
      command,
      [`--id=${deviceId}`, "--query-gpu=memory.total,memory.used", "--format=csv,noheader,nounits"],
      { timeout: 5000 },
      (err, stdout) => {
        if (stopped) return;
        last = err ? null : parseNvidiaSmiMemory(stdout);
      },
    );
  };
  poll();
  const timer = setInterval(poll, intervalMs);
  timer.unref();
  return {
    current: () => last,
    stop: () => {
      stopped = true;
      clearInterval(timer);
    },
  };
}
