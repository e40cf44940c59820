/**
 * `accdiff bundle check DIR`: everything that can be wrong with a bundle, each problem naming the
 * file, the tensor, what the contract expects and what was found. Never throws for a bad bundle.
 */
import { existsSync } from "node:fs";
import * as ort from "onnxruntime-node";
import { BUNDLE_FORMAT, bundleComponents, componentPath, readBundleJson, tokenizerDir } from "./bundleJson";
import { loadOnnxModels, type OnnxModels } from "./onnx/onnxModels";
import { assertCudaInstalled, executionProviders, type ProviderName, providerFailure } from "./onnx/providers";
import { type Bindings, checkSignature, crossCheck, type SignatureContext, signatureOf } from "./signatureCheck";
import { loadClipTokenizer } from "./tokenizer";

export interface CheckOptions {
  /** Also run one UNet call on zeros through the backend and check its outputs. */
  smoke?: boolean;
  /** Provider used to load the models (default cpu; fp16 bundles usually need cuda). */
  provider?: ProviderName;
  deviceId?: number;
  /** Latent side of the smoke test (default: 4 attention pixels, i.e. 4 * attentionDivisor / vaeScaleFactor). */
  smokeLatentSize?: number;
}

export interface CheckReport {
  ok: boolean;
  dir: string;
  problems: string[];
  warnings: string[];
  /** Short lines about what was checked (for the CLI's verbose output). */
  notes: string[];
}

/** Loads a model only for its metadata: no graph optimisation, released at once. */
async function readSignature(path: string, file: string, provider: ProviderName, deviceId?: number) {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(path, {
      executionProviders: executionProviders(provider, deviceId),
      graphOptimizationLevel: "disabled",
    });
  } catch (e) {
    throw providerFailure(provider, file, e);
  }
  try {
    return signatureOf(session);
  } finally {
    await session.release();
  }
}

export async function checkBundle(dir: string, opts: CheckOptions = {}): Promise<CheckReport> {
  const report: CheckReport = { ok: false, dir, problems: [], warnings: [], notes: [] };
  const parsed = await readBundleJson(dir);
  report.warnings.push(...parsed.warnings);
  if (!parsed.ok) {
    report.problems.push(...parsed.problems);
    return report;
  }
  const bundle = parsed.bundle;
  report.notes.push(
    `bundle ${bundle.name} ${bundle.version} (${bundle.dtype}, ${bundle.baseResolution}px), hash ${bundle.hash}`,
  );

  for (const which of ["tokenizer", "tokenizer_2"] as const) {
    const folder = tokenizerDir(dir, bundle, which);
    try {
      const tok = await loadClipTokenizer(folder, bundle.maxTokens);
      report.notes.push(`${which}: bos ${tok.bosId}, eos ${tok.eosId}, pad ${tok.padId}`);
    } catch (e) {
      report.problems.push(`${which}: ${(e as Error).message}`);
    }
  }

  const provider = opts.provider ?? "cpu";
  if (provider === "cuda") {
    try {
      assertCudaInstalled();
    } catch (e) {
      report.problems.push((e as Error).message);
      return report;
    }
  }
  const ctx: SignatureContext = { bundle, bindings: new Map() as Bindings };
  for (const component of bundleComponents(bundle)) {
    const file = bundle.components[component]!;
    const path = componentPath(dir, bundle, component);
    if (!existsSync(path)) {
      report.problems.push(`${file}: file not found (bundle.json components.${component})`);
      continue;
    }
    let sig: Awaited<ReturnType<typeof readSignature>>;
    try {
      sig = await readSignature(path, file, provider, opts.deviceId);
    } catch (e) {
      report.problems.push((e as Error).message);
      continue;
    }
    const r = checkSignature(component, file, sig, ctx);
    report.problems.push(...r.problems);
    report.warnings.push(...r.warnings);
    if (r.problems.length === 0)
      report.notes.push(`${file}: ${sig.inputs.length} inputs, ${sig.outputs.length} outputs match`);
  }
  report.problems.push(...crossCheck(ctx.bindings, bundle));

  if (opts.smoke && report.problems.length === 0) await smoke(dir, opts, provider, report);
  report.ok = report.problems.length === 0;
  return report;
}

/** One UNet call on zeros: finite outputs of the contract's shapes, attention rows summing to 1. */
async function smoke(dir: string, opts: CheckOptions, provider: ProviderName, report: CheckReport): Promise<void> {
  let models: OnnxModels | undefined;
  try {
    models = await loadOnnxModels(dir, { provider, deviceId: opts.deviceId, lazy: true });
    const info = models.info;
    const a = info.attentionDivisor / info.vaeScaleFactor;
    const side = opts.smokeLatentSize ?? 4 * a;
    const zeros = (shape: number[]) => ({ data: new Float32Array(shape.reduce((x, y) => x * y, 1)), shape });
    const input = {
      sample: zeros([1, info.latentChannels, side, side]),
      timestep: Math.floor(info.scheduler.numTrainTimesteps / 2),
      encoderHiddenStates: zeros([1, info.maxTokens, info.textEmbedDim]),
      textEmbeds: zeros([1, info.pooledDim]),
      timeIds: { data: Float32Array.of(side * 8, side * 8, 0, 0, side * 8, side * 8), shape: [1, 6] },
    };
    const out = await models.unet(input);
    const where = `smoke test (unet, latent ${side}x${side})`;
    if (!out.noise.data.every(Number.isFinite)) report.problems.push(`${where}: out_sample has non-finite values`);
    if (models.bundle.format === BUNDLE_FORMAT && models.bundle.controlnet) {
      // accdiff-bundle/2: "no ControlNet" is fed as [B, R, 1, 1] zeros; the UNet must broadcast them.
      const full = await models.controlnet({
        ...input,
        cond: zeros([1, 3, 8 * side, 8 * side]),
        conditioningScale: 0,
      });
      const withFull = await models.unet(input, full);
      const same = Buffer.from(withFull.noise.data.buffer).equals(Buffer.from(out.noise.data.buffer));
      if (!same) {
        report.problems.push(
          `${where}: out_sample differs between full-size and broadcast (1x1) zero residuals; ${BUNDLE_FORMAT} UNets must add residuals with broadcasting`,
        );
      }
    }
    if (out.attention) {
      const [, n, t] = out.attention.shape;
      if (!out.attention.data.every(Number.isFinite))
        report.problems.push(`${where}: attention_probs has non-finite values`);
      let worst = 0;
      for (let p = 0; p < n; p++) {
        let sum = 0;
        for (let k = 0; k < t; k++) sum += out.attention.data[p * t + k];
        worst = Math.max(worst, Math.abs(sum - 1));
      }
      const tol = info.dtype === "fp16" ? 2e-2 : 1e-3;
      if (worst > tol) {
        report.warnings.push(
          `${where}: attention_probs rows should sum to 1 (probabilities), off by up to ${worst.toPrecision(3)}`,
        );
      }
    }
    report.notes.push(`${where}: finite outputs on ${provider}`);
  } catch (e) {
    report.problems.push(`smoke test: ${(e as Error).message}`);
  } finally {
    await models?.dispose?.();
  }
}

/** Human-readable report: problems first, then warnings, then a verdict line. */
export function formatCheckReport(r: CheckReport, verbose = false): string {
  const lines: string[] = [];
  if (verbose) for (const n of r.notes) lines.push(`  ${n}`);
  for (const p of r.problems) lines.push(`error: ${p}`);
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  const counts = `${r.problems.length} problem(s), ${r.warnings.length} warning(s)`;
  lines.push(r.ok ? `${r.dir}: bundle OK (${counts})` : `${r.dir}: bundle does NOT match the contract (${counts})`);
  return lines.join("\n");
}
