/**
 * Per-component parity of an exported bundle: the exporter's smoke cases (inputs + what the untouched PyTorch
 * models computed, `tools/sdxl-bundle/sdxl_bundle/case_files.py`) run through the runner's onnxruntime.
 *
 * What the cases hold (steps.py): text encoders (every hidden state, the penultimate the pipeline uses, and the
 * pooled projection); the UNet without residuals against the untouched diffusers UNet, with its `attention_probs`
 * against an independent re-implementation of the reference's AttentionStore aggregation; the UNet with ControlNet
 * residuals against diffusers; an odd latent size; the ControlNet residuals against diffusers' ControlNetModel; VAE
 * decode and encode (distribution mean). And the tokenizer: the runner's tokenizer.json against the slow
 * CLIPTokenizer's ids.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { readBundleJson, tokenizerDir } from "../models/bundleJson";
import { loadClipTokenizer } from "../models/tokenizer";
import type { Measurement } from "./replayReference";
import { type ManifestTensor, readTensorManifest } from "./tensorManifest";

/** fp32 bundle vs PyTorch fp32: only evaluation order differs (tools/sdxl-bundle/sdxl_bundle/tolerances.py). */
export const COMPONENT_REL_L2 = 1e-4;
export const ATTENTION_MAX_ABS = 1e-5;

function metrics(a: ArrayLike<number>, e: ArrayLike<number>): { relL2: number; maxAbs: number } {
  let num = 0;
  let den = 0;
  let maxAbs = 0;
  for (let i = 0; i < e.length; i++) {
    const d = a[i] - e[i];
    num += d * d;
    den += e[i] * e[i];
    const ad = Math.abs(d);
    if (!(ad <= maxAbs)) maxAbs = Number.isNaN(ad) ? Number.POSITIVE_INFINITY : ad;
  }
  return { relL2: Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30), maxAbs };
}

/** The family a case output is reported under (e.g. "unet out_sample, with ControlNet residuals"). */
function family(caseName: string, output: string, lastHidden: number): string {
  const component = caseName.replace(/-\d+$/, "");
  if (component === "unet") {
    if (output === "attention_probs")
      return caseName === "unet-0" ? "unet attention_probs vs reference aggregation" : "unet attention_probs";
    return caseName === "unet-0"
      ? "unet vs diffusers, no residuals"
      : caseName === "unet-1"
        ? "unet vs diffusers, ControlNet residuals"
        : "unet, odd latent size";
  }
  if (component.startsWith("text_encoder")) {
    // The pipeline uses the penultimate hidden state (SDXL's clip skip); reported on its own.
    if (output === `hidden_states.${lastHidden - 1}`) return `${component} penultimate hidden state`;
    if (output.startsWith("hidden_states.")) return `${component} hidden states`;
    return `${component} ${output}`;
  }
  return component === "controlnet" ? "controlnet residuals" : component;
}

function ortTensor(t: ManifestTensor): ort.Tensor {
  if (t.dtype === "float16") return new ort.Tensor("float16", t.data as Uint16Array, t.shape);
  if (t.dtype === "int64") return new ort.Tensor("int64", t.data as BigInt64Array, t.shape);
  if (t.dtype === "int32") return new ort.Tensor("int32", t.data as Int32Array, t.shape);
  return new ort.Tensor("float32", t.data as Float32Array, t.shape);
}

/** Runs every case folder of `casesDir` on the bundle's models (CPU) and measures each output family. */
export async function checkExportCases(bundleDir: string, casesDir: string): Promise<Measurement[]> {
  const parsed = await readBundleJson(bundleDir);
  if (!parsed.ok) throw new Error(`${bundleDir}: ${parsed.problems.join("; ")}`);
  const components = parsed.bundle.components as Record<string, string>;
  const byFamily = new Map<string, Measurement>();
  const sessions = new Map<string, ort.InferenceSession>();
  try {
    for (const name of readdirSync(casesDir).sort()) {
      const m = readTensorManifest(join(casesDir, name));
      const component = String(m.meta.component ?? name.replace(/-\d+$/, ""));
      const file = components[component];
      if (!file) throw new Error(`case ${name}: bundle.json has no component ${component}`);
      let session = sessions.get(component);
      if (!session) {
        session = await ort.InferenceSession.create(join(bundleDir, file), { executionProviders: ["cpu"] });
        sessions.set(component, session);
      }
      const feeds: Record<string, ort.Tensor> = {};
      const outputs: string[] = [];
      for (const [key, t] of m.tensors) {
        if (key.startsWith("in/")) feeds[key.slice(3)] = ortTensor(t);
        else if (key.startsWith("out/")) outputs.push(key.slice(4));
      }
      const got = await session.run(feeds, outputs);
      const lastHidden = Math.max(
        -1,
        ...outputs.filter((o) => o.startsWith("hidden_states.")).map((o) => Number(o.slice("hidden_states.".length))),
      );
      for (const out of outputs) {
        const want = m.tensors.get(`out/${out}`)!;
        const have = got[out];
        const fam = family(name, out, lastHidden);
        const attention = out === "attention_probs";
        let meas = byFamily.get(fam);
        if (!meas) {
          meas = {
            what: fam,
            max: 0,
            limit: attention ? `max_abs <= ${ATTENTION_MAX_ABS}` : `rel_l2 <= ${COMPONENT_REL_L2}`,
            ok: true,
          };
          byFamily.set(fam, meas);
        }
        if (have.dims.join(",") !== want.shape.join(",")) {
          meas.ok = false;
          meas.detail = `${name} ${out}: shape [${have.dims}] != [${want.shape}]`;
          continue;
        }
        const r = metrics(have.data as Float32Array, want.data as Float32Array);
        const value = attention ? r.maxAbs : r.relL2;
        meas.max = Math.max(meas.max, value);
        if (!(value <= (attention ? ATTENTION_MAX_ABS : COMPONENT_REL_L2))) {
          meas.ok = false;
          meas.detail ??= `${name} ${out}: rel_l2 ${r.relL2.toPrecision(3)}, max_abs ${r.maxAbs.toPrecision(3)}`;
        }
      }
    }
  } finally {
    for (const s of sessions.values()) await s.release();
  }
  return [...byFamily.values()];
}

/** The runner's tokenizers (the bundle's tokenizer.json) against the slow CLIPTokenizer's ids on the same prompts. */
export async function checkTokenizerIds(bundleDir: string, idsFile: string): Promise<Measurement> {
  const parsed = await readBundleJson(bundleDir);
  if (!parsed.ok) throw new Error(`${bundleDir}: ${parsed.problems.join("; ")}`);
  const ids = JSON.parse(readFileSync(idsFile, "utf8")) as { prompts: string[] } & Record<string, number[][]>;
  const meas: Measurement = { what: "tokenizer.json vs CLIPTokenizer ids", max: 0, limit: "exact", ok: true };
  for (const which of ["tokenizer", "tokenizer_2"] as const) {
    const tok = await loadClipTokenizer(tokenizerDir(bundleDir, parsed.bundle, which), parsed.bundle.maxTokens);
    ids.prompts.forEach((p, k) => {
      const got = Array.from(tok.tokenize(p).ids);
      if (JSON.stringify(got) !== JSON.stringify(ids[which][k])) {
        meas.max++;
        meas.ok = false;
        meas.detail ??= `${which} "${p.slice(0, 40)}": ${JSON.stringify(got.slice(0, 20))} != ${JSON.stringify(ids[which][k].slice(0, 20))}`;
      }
    });
  }
  return meas;
}
