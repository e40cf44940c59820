/**
 * The accdiff command line as a user runs it: `node gpu-runner/bin/accdiff.mjs ...` in a child process, on the toy
 * world. Good paths write what they promise; bad inputs exit non-zero with exactly one line on stderr.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { decodeImage } from "../images/encode";
import { cudaProviderInstalled } from "../models/index";
import { ensureToyWorld } from "../toyworld/index";
import { HELP } from "./help";
import { NUMBER_FLAGS, SWITCH_FLAGS } from "./requestFlags";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const BIN = join(ROOT, "gpu-runner/bin/accdiff.mjs");

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function accdiff(args: string[], env: Record<string, string | undefined> = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: { ...process.env, ACCDIFF_DEBUG: undefined, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

let work: string;
beforeAll(async () => {
  await ensureToyWorld();
  work = mkdtempSync(join(tmpdir(), "accdiff-cli-"));
}, 60_000);

describe("accdiff generate / upscale on the toy world", () => {
  it("writes every phase, the canny maps, a mask per word, the patch grid and report.json", async () => {
    const out = join(work, "gen");
    const r = await accdiff([
      "generate",
      "--prompt",
      "a cat and a dog are playing on the lawn",
      "--size",
      "768x768",
      "--steps",
      "2",
      "--seed",
      "5",
      "--out",
      out,
    ]);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("image.png");
    // Progress on stderr (plain lines: not a terminal), phase and step and ETA.
    expect(r.stderr).toMatch(/phase 2\/2 step 2\/2 .*100\.0%\s+ETA/);
    for (const f of ["image.png", "phase-1.png", "phase-2.png", "canny/phase-1.png", "canny/phase-2.png"]) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    expect(existsSync(join(out, "patches/phase-2.png"))).toBe(true);
    const masks = readdirSync(join(out, "attention"));
    expect(masks).toContain("02-cat.png");
    expect(masks).toContain("05-dog.png");
    const final = await decodeImage(readFileSync(join(out, "image.png")));
    expect([final.width, final.height]).toEqual([768, 768]);
    const low = await decodeImage(readFileSync(join(out, "phase-1.png")));
    expect([low.width, low.height]).toEqual([512, 512]);

    const report = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
    expect(report.request).toMatchObject({ width: 768, height: 768, steps: 2, seed: 5 });
    expect(report.parameters).toMatchObject({ window: 64, stride: 32, patchThreshold: 0.3 });
    expect(report.phases.map((p: { id: number }) => p.id)).toEqual([1, 2]);
    expect(report.modelEvaluations["1"]).toMatchObject({ unetCalls: 2, unetSamples: 4 });
    expect(report.timingsMs.totalMs).toBeGreaterThan(0);
    expect(report.warnings).toEqual([]);
    expect(report.files).toContain("patches/phase-2.png");
    expect(report.files.at(-1)).toBe("report.json");
    for (const f of report.files) expect(existsSync(join(out, f)), f).toBe(true);
  }, 60_000);

  it("upscales an image file (the image_lr path)", async () => {
    const input = join(work, "gen", "phase-1.png");
    expect(existsSync(input)).toBe(true);
    const out = join(work, "up");
    const r = await accdiff([
      "upscale",
      "--image",
      input,
      "--prompt",
      "a cat and a dog are playing on the lawn",
      "--size",
      "1024x1024",
      "--steps",
      "2",
      "--format",
      "webp",
      "--quiet",
      "--out",
      out,
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const report = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
    expect(report.phases[0]).toMatchObject({ id: 0, kind: "encode" });
    expect(report.inputImage).toBe(input);
    const final = await decodeImage(readFileSync(join(out, "image.webp")));
    expect([final.width, final.height]).toEqual([1024, 1024]);
  }, 60_000);
});

describe("accdiff bad inputs: one line on stderr, non-zero exit", () => {
  it("refuses each with one clear line and no stack trace", async () => {
    const notAnImage = join(work, "not-an-image.png");
    writeFileSync(notAnImage, "hello");
    const base = ["generate", "--prompt", "a cat", "--size", "1024x1024"];
    const outFile = join(work, "a-file");
    writeFileSync(outFile, "x");
    // [args, message, exit code (errors.ts: 2 = the command line is wrong, 1 = a correctly asked run failed), env]
    const cases: [string[], RegExp, number, Record<string, string | undefined>?][] = [
      [[...base, "--bogus"], /unknown flag --bogus/, 2],
      [["generate", "--prompt", "a cat", "--size", "1000x7"], /--size \(height\): must be a multiple of 8/, 2],
      [["generate", "--prompt", "a cat", "--size", "big"], /--size must look like/, 2],
      [[...base, "--steps", "0"], /--steps: must be >= 1/, 2],
      [[...base, "--steps"], /--steps needs a value/, 2],
      [[...base, "--seed", "-1"], /--seed: must be >= 0/, 2],
      [[...base, "--seed=-1"], /--seed: must be >= 0/, 2],
      [[...base, "--seed", "1.5"], /--seed: must be an integer/, 2],
      [[...base, "--guidance-scale", "-2"], /--guidance-scale: must be >= 0/, 2],
      [[...base, "--device-id", "-1"], /--device-id must be >= 0/, 2],
      [["generate", "--size", "1024x1024"], /--prompt is required/, 2],
      [
        ["upscale", "--image", join(work, "missing.png"), "--prompt", "a cat", "--size", "1024x1024"],
        /no such file/,
        2,
      ],
      [["upscale", "--image", notAnImage, "--prompt", "a cat", "--size", "1024x1024"], /not an image/, 2],
      [[...base, "--provider", "tpu"], /--provider must be one of/, 2],
      [[...base, "--bundle", join(work, "no-bundle")], /does not exist/, 2],
      [[...base, "--out", outFile], /is a file, not a folder/, 2],
      [["frobnicate"], /unknown command 'frobnicate'/, 2],
      [[], /a command is needed/, 2],
      [["bundle", "check"], /needs the bundle folder/, 2],
      [["bundle", "check", join(work, "no-bundle"), "--provider", "cpu"], /does not exist/, 2],
      [["serve"], /RUNNER_SECRET is not set/, 2, { RUNNER_SECRET: undefined }],
      [[...base, "--no-multidiffusion", "--no-dilated-sampling"], /MultiDiffusion/, 2],
      // The API's own refusal (shared referenceLimits.ts), before any model loads: the toy world's 1000x1000 phase 1
      // has 32x32 attention maps where the reference looks for 1000 // 32 = 31.
      [
        ["generate", "--prompt", "a cat", "--size", "1000x1000", "--reference-compat"],
        /--reference-compat: referenceCompat cannot reproduce 1000x1000 with patch prompts: a defect of the reference/,
        2,
      ],
    ];
    if (!cudaProviderInstalled().installed) cases.push([[...base, "--provider", "cuda"], /CUDA execution provider/, 1]);
    const outputs = () => (existsSync(join(ROOT, "out")) ? readdirSync(join(ROOT, "out")) : []);
    const before = outputs();
    const results = await Promise.all(cases.map(([args, , , env]) => accdiff(args, env)));
    results.forEach((r, i) => {
      const [args, pattern, code] = cases[i];
      const label = args.join(" ");
      expect(r.code, label).toBe(code);
      const lines = r.stderr.split("\n").filter((l) => l !== "");
      expect(lines, label).toHaveLength(1);
      expect(lines[0], label).toMatch(/^accdiff: /);
      expect(lines[0], label).toMatch(pattern);
      expect(r.stdout, label).toBe("");
    });
    // No default output folder was created for a refused request.
    expect(outputs().filter((f) => !before.includes(f) && f.startsWith("accdiff-"))).toEqual([]);
  }, 60_000);
});

describe("accdiff help, version, bundle check, serve", () => {
  it("prints help and version", async () => {
    const [help, version, genHelp] = await Promise.all([
      accdiff(["--help"]),
      accdiff(["--version"]),
      accdiff(["generate", "--help"]),
    ]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("accdiff generate");
    expect(version.stdout).toMatch(/^accdiff \d+\.\d+\.\d+\n$/);
    expect(genHelp.code).toBe(0);
    for (const f of Object.keys(NUMBER_FLAGS)) expect(HELP.generate, f).toContain(`--${f}`);
    for (const f of Object.keys(SWITCH_FLAGS)) expect(HELP.generate, f).toContain(`--no-${f}`);
  });

  it("checks a bundle: OK for the toy world, exit 1 with the report for an empty folder", async () => {
    const empty = mkdtempSync(join(tmpdir(), "accdiff-empty-bundle-"));
    const [ok, bad] = await Promise.all([
      accdiff(["bundle", "check", join(ROOT, "models/toy-world")]),
      accdiff(["bundle", "check", empty]),
    ]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("bundle OK");
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/bundle.json.*file not found/);
    expect(bad.stdout).toContain("does NOT match");
  }, 60_000);

  it("serves: ready on /readyz with the bundle and provider, exits 0 on SIGTERM", async () => {
    const child = spawn(process.execPath, [BIN, "serve", "--port", "0", "--host", "127.0.0.1"], {
      cwd: ROOT,
      env: { ...process.env, RUNNER_SECRET: "cli-serve-secret", PORT: "1", STATE_DIR: "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    const url = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no listening line: ${stderr}`)), 30_000);
      child.stderr.on("data", (d) => {
        stderr += d;
        const m = /"runner listening".*"url":"([^"]+)"/.exec(stderr);
        if (m) {
          clearTimeout(t);
          resolve(m[1]);
        }
      });
    });
    let ready: Response | null = null;
    for (let i = 0; i < 100 && ready?.status !== 200; i++) {
      ready = await fetch(`${url}/readyz`);
      if (ready.status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(ready?.status).toBe(200);
    expect(await ready!.json()).toMatchObject({ ready: true, provider: "cpu", bundle: { name: "toy-world" } });
    const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    // Structured logs: every line is JSON.
    for (const line of stderr.split("\n").filter(Boolean)) expect(() => JSON.parse(line), line).not.toThrow();
  }, 60_000);
});

describe("error reporting (in process)", () => {
  it("prints one line for usage errors and unexpected errors, the stack only with ACCDIFF_DEBUG=1", async () => {
    const { CliError } = await import("./errors");
    const { reportError } = await import("./cli");
    const lines: string[] = [];
    const err = (s: string) => lines.push(s);
    expect(reportError(new CliError("bad --size", 2), err)).toBe(2);
    expect(reportError(new Error("first\n  second\nthird"), err)).toBe(1);
    expect(lines).toEqual(["accdiff: bad --size\n", "accdiff: first; second; third\n"]);
    const saved = process.env.ACCDIFF_DEBUG;
    process.env.ACCDIFF_DEBUG = "1";
    try {
      lines.length = 0;
      reportError(new TypeError("boom"), err);
      expect(lines[0]).toBe("accdiff: boom\n");
      expect(lines[1]).toMatch(/TypeError: boom\n\s+at /);
    } finally {
      if (saved === undefined) delete process.env.ACCDIFF_DEBUG;
      else process.env.ACCDIFF_DEBUG = saved;
    }
  });
});
