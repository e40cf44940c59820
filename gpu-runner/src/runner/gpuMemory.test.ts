import { describe, expect, it } from "vitest";
import { nvidiaSmiProbe, parseNvidiaSmiMemory } from "./gpuMemory";

describe("GPU memory", () => {
  it("reads nvidia-smi's csv in MiB", () => {
    expect(parseNvidiaSmiMemory("81559, 1234\n")).toEqual({ totalBytes: 81559 * 1048576, usedBytes: 1234 * 1048576 });
    expect(parseNvidiaSmiMemory("")).toBeNull();
    expect(parseNvidiaSmiMemory("[N/A], [N/A]\n")).toBeNull();
  });

  it("stays unknown when nvidia-smi is missing", async () => {
    const probe = nvidiaSmiProbe(0, 60_000, "/nonexistent/nvidia-smi");
    await new Promise((r) => setTimeout(r, 50));
    expect(probe.current()).toBeNull();
    probe.stop();
  });
});
