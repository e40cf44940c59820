/**
 * `npm run golden` as a user runs it: bad arguments exit 2 with one line naming the problem; a folder of golden
 * files without ../real-arch beside it runs just those topics.
 */
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const MAIN = join(ROOT, "gpu-runner/src/golden/main.ts");
const GOLDEN = join(ROOT, "../shared/golden");

function golden(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", MAIN, ...args], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("npm run golden", () => {
  it.each([
    [["--reference", "/nonexistent"], "--reference needs --bundle DIR"],
    [["--bundle", "/nonexistent"], "need --reference DIR"],
    [["--bundle", "/a", "--models", "/b", "--reference", "/c"], "give --bundle or --models, not both"],
    [["--bundle", "/nonexistent-bundle", "--reference", ROOT], "not found: /nonexistent-bundle"],
    [["--frobnicate"], "Unknown option"],
  ])("refuses %j with one line", async (args, message) => {
    const r = await golden(args);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain(message);
  });

  it.skipIf(!existsSync(join(GOLDEN, "latent_renorm.json")))(
    "runs the topics of a folder without real-arch beside it",
    async () => {
      const dir = join(mkdtempSync(join(tmpdir(), "golden-")), "golden");
      mkdirSync(dir);
      copyFileSync(join(GOLDEN, "latent_renorm.json"), join(dir, "latent_renorm.json"));
      const r = await golden([dir]);
      expect(r.stdout).toMatch(/^ok {3}latent_renorm: \d+\/\d+$/m);
      expect(r.stdout).not.toContain("real_arch_bundle");
      expect(r.stdout).toMatch(/^\d+ passed, 0 failed$/m);
      expect(r.code).toBe(0);
    },
  );
});
