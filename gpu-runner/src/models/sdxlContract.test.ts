/**
 * The SDXL bundle build tool (tools/sdxl-bundle, Python) against the runner's side of the contract:
 * its contract table, its export plan (run through the runner's own signature checker), its
 * bundle.json, and its content hash (against the toy world's `bundleHash`).
 *
 * Runs `python3`; skipped, with a warning, where no python3 is on the PATH (CI has one and also
 * runs `npm run test:python`).
 */
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleHash, generateToyWorld } from "../toyworld/bundle";
import { type BundleJson, parseBundleJson } from "./bundleJson";
import {
  acceptedTypes,
  CONTRACT,
  type ComponentSpec,
  DOWN_FACTORS,
  findSpec,
  MID_FACTOR,
  type TensorSpec,
} from "./contract";
import { type Bindings, checkSignature, crossCheck, type ModelSignature } from "./signatureCheck";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "../../..");
const TOOL = join(REPO, "tools/sdxl-bundle");

function python(args: string[]): { ok: boolean; stdout: string; stderr: string; missing: boolean } {
  const r = spawnSync("python3", args, { cwd: REPO, encoding: "utf8", maxBuffer: 64 << 20 });
  const missing = (r.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
  return { ok: r.status === 0, stdout: r.stdout ?? "", stderr: r.stderr ?? String(r.error ?? ""), missing };
}

const probe = python(["--version"]);
if (probe.missing)
  console.warn("sdxlContract.test.ts: python3 not found, skipping the Python/TypeScript contract checks");

interface PyTensor {
  name: string;
  rule: string;
  dims: (number | string)[];
}
interface PyComponent {
  inputs: PyTensor[];
  residualInputs: PyTensor[];
  outputs: PyTensor[];
  optionalOutputs: PyTensor[];
  featureOutputs: PyTensor[];
  families: { prefix: string; rule: string; dims: (number | string)[]; minLast: number }[];
}
interface PyExportTensor {
  name: string;
  dtype: string;
  dims: (number | string)[];
}
interface PyTable {
  contract: Record<string, PyComponent>;
  sdxlExport: Record<
    string,
    { inputs: PyExportTensor[]; outputs: PyExportTensor[]; dynamicAxes: Record<string, Record<string, string>> }
  >;
  sdxlDims: Record<string, number | number[]>;
  attentionLayers: string[];
  exampleBundleJson: Record<string, unknown>;
}

const plain = (ts: readonly TensorSpec[]) => ts.map((t) => ({ name: t.name, rule: t.rule, dims: [...t.dims] }));

describe.skipIf(probe.missing)("tools/sdxl-bundle agrees with the runner's contract", () => {
  let table: PyTable;
  let sdxl: BundleJson;

  beforeAll(() => {
    const r = python([join(TOOL, "contract_table.py")]);
    if (!r.ok) throw new Error(`contract_table.py failed: ${r.stderr}`);
    table = JSON.parse(r.stdout) as PyTable;
    const parsed = parseBundleJson(table.exampleBundleJson);
    if (!parsed.ok) throw new Error(parsed.problems.join("\n"));
    sdxl = parsed.bundle;
  });

  it("has the same contract table: components, names, element rules and dims", () => {
    expect(Object.keys(table.contract).sort()).toEqual(Object.keys(CONTRACT).sort());
    for (const [name, spec] of Object.entries(CONTRACT) as [string, ComponentSpec][]) {
      const py = table.contract[name];
      expect(py.inputs, name).toEqual(plain(spec.inputs));
      expect(py.residualInputs, name).toEqual(plain(spec.residualInputs));
      expect(py.outputs, name).toEqual(plain(spec.outputs));
      expect(py.optionalOutputs, name).toEqual(plain(spec.optionalOutputs));
      expect(py.featureOutputs, name).toEqual(plain(spec.featureOutputs));
      expect(py.families, name).toEqual(
        spec.families.map((f) => ({ prefix: f.prefix, rule: f.rule, dims: [...f.dims], minLast: f.minLast })),
      );
    }
    expect(table.sdxlDims.residualFactors).toEqual([...DOWN_FACTORS]);
    expect(table.sdxlDims.midFactor).toBe(MID_FACTOR);
  });

  it("writes a bundle.json the runner accepts without warnings", () => {
    const parsed = parseBundleJson(table.exampleBundleJson);
    expect(parsed.warnings).toEqual([]);
    expect(sdxl).toMatchObject({
      baseResolution: 1024,
      vaeScalingFactor: 0.13025,
      dtype: "fp16",
      attentionDivisor: 32,
      textEmbedDim: 2048,
      pooledDim: 1280,
      maxTokens: 77,
      controlnet: "canny",
    });
  });

  it("plans signatures the runner's checker accepts, with every element type the contract allows", () => {
    const bindings: Bindings = new Map();
    const ctx = { bundle: sdxl, bindings };
    for (const [name, plan] of Object.entries(table.sdxlExport)) {
      const component = name as keyof typeof CONTRACT;
      const spec = CONTRACT[component];
      for (const [io, list] of [
        ["input", plan.inputs],
        ["output", plan.outputs],
      ] as const) {
        for (const t of list) {
          const found = findSpec(spec, io, t.name);
          expect(found, `${name} ${io} ${t.name}`).toBeDefined();
          expect(acceptedTypes(found!.spec.rule, "fp16"), `${name} ${t.name}`).toContain(t.dtype);
          expect(t.dims.length, `${name} ${t.name}`).toBe(found!.spec.dims.length);
        }
      }
      // What onnxruntime would report for a faithful export: dim_params for the dynamic axes.
      const sig: ModelSignature = {
        inputs: plan.inputs.map((t) => ({ name: t.name, type: t.dtype, shape: t.dims })),
        outputs: plan.outputs.map((t) => ({ name: t.name, type: t.dtype, shape: t.dims })),
      };
      const report = checkSignature(component, `${name}/model.onnx`, sig, ctx);
      expect(report.problems, name).toEqual([]);
      expect(report.warnings, name).toEqual([]);
      if (name === "unet") expect(report.hasResiduals).toBe(true);
      if (name === "text_encoder") expect(report.familyLast.get("hidden_states.")).toBe(12);
      if (name === "text_encoder_2") expect(report.familyLast.get("hidden_states.")).toBe(32);
      // Every symbolic dim is a dynamic axis of torch.onnx.export, under its contract name.
      for (const t of [...plan.inputs, ...plan.outputs]) {
        const axes = Object.fromEntries(t.dims.flatMap((d, i) => (typeof d === "string" ? [[String(i), d]] : [])));
        expect(plan.dynamicAxes[t.name] ?? {}, `${name} ${t.name}`).toEqual(axes);
      }
    }
    expect(crossCheck(bindings, sdxl)).toEqual([]);
    expect(bindings.get("R8")?.value).toBe(1280);
  });

  it("selects 50 cross-attention layers of the SDXL UNet: 20 in down_blocks.2, 30 in up_blocks.0", () => {
    expect(table.attentionLayers).toHaveLength(50);
    expect(table.attentionLayers.filter((n) => n.startsWith("down_blocks.2.")).length).toBe(20);
    expect(table.attentionLayers.filter((n) => n.startsWith("up_blocks.0.")).length).toBe(30);
    expect(table.attentionLayers.every((n) => n.endsWith(".attn2.processor"))).toBe(true);
  });
});

describe.skipIf(probe.missing)("tools/sdxl-bundle content hash = the toy world's bundleHash", () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "accdiff-sdxl-hash-"));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function writeAll(dir: string, files: ReadonlyMap<string, Uint8Array>): Promise<void> {
    for (const [rel, data] of files) {
      const path = join(dir, ...rel.split("/"));
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, data);
    }
  }

  function pythonHash(dir: string): string {
    const r = python([join(TOOL, "bundle_hash.py"), dir]);
    if (!r.ok) throw new Error(`bundle_hash.py failed: ${r.stderr}`);
    return r.stdout.trim();
  }

  it("on the generated toy world", async () => {
    const world = generateToyWorld();
    const dir = join(root, "toy");
    await writeAll(dir, world.files);
    expect(pythonHash(dir)).toBe(world.hash);
  });

  it("on awkward names: nesting, dots, astral and non-ASCII characters, a nested bundle.json", async () => {
    const enc = new TextEncoder();
    const files = new Map<string, Uint8Array>([
      ["bundle.json", enc.encode("{}")],
      ["sub/bundle.json", enc.encode("nested")],
      ["a.b", enc.encode("1")],
      ["a/b", enc.encode("2")],
      ["a-b", new Uint8Array([0, 255, 7])],
      ["B", new Uint8Array(0)],
      ["\uff01", enc.encode("fullwidth")],
      ["\u{1f600}/x", enc.encode("astral")],
      ["caf\u00e9/model.onnx_data", new Uint8Array(100_000).fill(3)],
    ]);
    const dir = join(root, "awkward");
    await writeAll(dir, files);
    expect(pythonHash(dir)).toBe(bundleHash(files));
  });
});
