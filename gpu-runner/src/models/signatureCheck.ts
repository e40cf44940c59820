/**
 * Compares one model's declared inputs/outputs (onnxruntime session metadata) with the contract
 * table, and says precisely what differs: file, tensor, expected and found signature.
 */

import type { BundleJson, OnnxComponent } from "./bundleJson";
import {
  acceptedTypes,
  BATCH_OF_ONE,
  BUNDLE_SYMBOLS,
  CONTRACT,
  type ComponentSpec,
  DYNAMIC_SYMBOLS,
  type FamilySpec,
  formatDims,
  MUST_BE_FIXED,
  type TensorSpec,
} from "./contract";

/** A declared input or output: element type (`float32`, `float16`, `int32`, ...) and shape. */
export interface ValueSignature {
  readonly name: string;
  /** onnxruntime's tensor type name, or "non-tensor". */
  readonly type: string;
  /** Numbers for fixed dims, the dim_param name (possibly "") for symbolic ones. */
  readonly shape: readonly (number | string)[];
}

export interface ModelSignature {
  readonly inputs: readonly ValueSignature[];
  readonly outputs: readonly ValueSignature[];
}

interface MetadataLike {
  readonly name: string;
  readonly isTensor: boolean;
  readonly type?: string;
  readonly shape?: readonly (number | string)[];
}

/** The signature of an onnxruntime InferenceSession (anything with input/outputMetadata). */
export function signatureOf(session: {
  readonly inputMetadata: readonly MetadataLike[];
  readonly outputMetadata: readonly MetadataLike[];
}): ModelSignature {
  const conv = (m: MetadataLike): ValueSignature =>
    m.isTensor
      ? { name: m.name, type: m.type ?? "unknown", shape: [...(m.shape ?? [])] }
      : { name: m.name, type: "non-tensor", shape: [] };
  return { inputs: session.inputMetadata.map(conv), outputs: session.outputMetadata.map(conv) };
}

/** Learned symbol values (D1, D2, R0..RM) with where they were first seen, shared across models. */
export type Bindings = Map<string, { value: number; where: string }>;

export interface SignatureContext {
  readonly bundle: Pick<
    BundleJson,
    "dtype" | "maxTokens" | "latentChannels" | "textEmbedDim" | "pooledDim" | "controlnet"
  >;
  readonly bindings: Bindings;
}

export interface SignatureReport {
  problems: string[];
  warnings: string[];
  /** Whether the model has the ControlNet residual inputs (unet). */
  hasResiduals: boolean;
  /** Largest index per output family prefix (text encoders: `hidden_states.` -> L). */
  familyLast: Map<string, number>;
}

function formatFound(v: ValueSignature): string {
  return `${v.type} ${formatDims(v.shape)}`;
}

function formatExpected(t: TensorSpec | FamilySpec, dtype: "fp16" | "fp32"): string {
  return `${acceptedTypes(t.rule, dtype).join("|")} ${formatDims(t.dims)}`;
}

/** Checks one declared tensor against its spec; pushes problems. */
function checkTensor(
  where: string,
  expected: TensorSpec | FamilySpec,
  found: ValueSignature,
  ctx: SignatureContext,
  problems: string[],
): void {
  const { bundle } = ctx;
  if (found.type === "non-tensor") {
    problems.push(`${where}: expected a tensor (${formatExpected(expected, bundle.dtype)}), found a non-tensor value`);
    return;
  }
  const accepted = acceptedTypes(expected.rule, bundle.dtype);
  if (!accepted.includes(found.type)) {
    const why = expected.rule === "float" ? ` (${bundle.dtype} bundle)` : "";
    problems.push(`${where}: expected element type ${accepted.join(" or ")}${why}, found ${found.type}`);
  }
  if (found.shape.length !== expected.dims.length) {
    problems.push(
      `${where}: expected rank ${expected.dims.length} (${formatDims(expected.dims)}), found rank ${found.shape.length} (${formatDims(found.shape)})`,
    );
    return;
  }
  expected.dims.forEach((e, i) => {
    const f = found.shape[i];
    const at = `${where}: dimension ${i}`;
    if (typeof e === "number") {
      if (typeof f === "number" && f !== e) problems.push(`${at}: expected ${e}, found ${f}`);
    } else if (DYNAMIC_SYMBOLS.has(e)) {
      if (typeof f === "number") {
        problems.push(
          `${at} (${e}): expected a dynamic dimension, found fixed ${f} (the model could serve one size only)`,
        );
      }
    } else if (e === BATCH_OF_ONE) {
      if (typeof f === "number" && f !== 1) problems.push(`${at} (batch): expected 1 or dynamic, found ${f}`);
    } else if (e in BUNDLE_SYMBOLS) {
      const field = BUNDLE_SYMBOLS[e as keyof typeof BUNDLE_SYMBOLS];
      const want = bundle[field];
      if (typeof f === "number" && f !== want) {
        problems.push(`${at} (${e}): expected ${want} (bundle.json ${field}), found ${f}`);
      }
    } else if (typeof f === "number") {
      const seen = ctx.bindings.get(e);
      if (seen === undefined) ctx.bindings.set(e, { value: f, where });
      else if (seen.value !== f) problems.push(`${at} (${e}): found ${f}, but ${seen.where} has ${seen.value}`);
    } else if (MUST_BE_FIXED.test(e)) {
      problems.push(`${at} (${e}): must be a fixed number (zero residuals are built from it), found '${f || "?"}'`);
    }
  });
}

/** Compares `sig` (the model in `file`, e.g. `unet/model.onnx`) with the contract of `component`. */
export function checkSignature(
  component: OnnxComponent,
  file: string,
  sig: ModelSignature,
  ctx: SignatureContext,
): SignatureReport {
  const spec: ComponentSpec = CONTRACT[component];
  const problems: string[] = [];
  const warnings: string[] = [];
  const dtype = ctx.bundle.dtype;
  const inputs = new Map(sig.inputs.map((v) => [v.name, v]));
  const outputs = new Map(sig.outputs.map((v) => [v.name, v]));
  const inputList = sig.inputs.map((v) => v.name).join(", ") || "(none)";
  const outputList = sig.outputs.map((v) => v.name).join(", ") || "(none)";

  for (const t of spec.inputs) {
    const found = inputs.get(t.name);
    if (found) checkTensor(`${file}: input '${t.name}'`, t, found, ctx, problems);
    else
      problems.push(
        `${file}: missing input '${t.name}' (${formatExpected(t, dtype)}); the model's inputs: ${inputList}`,
      );
  }

  const presentResiduals = spec.residualInputs.filter((t) => inputs.has(t.name));
  const hasResiduals = presentResiduals.length > 0;
  if (hasResiduals || (spec.residualInputs.length > 0 && ctx.bundle.controlnet)) {
    for (const t of spec.residualInputs) {
      const found = inputs.get(t.name);
      if (found) checkTensor(`${file}: input '${t.name}'`, t, found, ctx, problems);
      else {
        const why = hasResiduals
          ? "the residual inputs come all together"
          : `bundle.json has controlnet "${ctx.bundle.controlnet}"`;
        problems.push(`${file}: missing input '${t.name}' (${formatExpected(t, dtype)}): ${why}`);
      }
    }
  }

  const known = new Set([...spec.inputs, ...spec.residualInputs].map((t) => t.name));
  for (const v of sig.inputs) {
    if (!known.has(v.name)) {
      problems.push(`${file}: unexpected input '${v.name}' (${formatFound(v)}): the backend cannot feed it`);
    }
  }

  for (const t of spec.outputs) {
    const found = outputs.get(t.name);
    if (found) checkTensor(`${file}: output '${t.name}'`, t, found, ctx, problems);
    else
      problems.push(
        `${file}: missing output '${t.name}' (${formatExpected(t, dtype)}); the model's outputs: ${outputList}`,
      );
  }
  for (const t of spec.optionalOutputs) {
    const found = outputs.get(t.name);
    if (found) checkTensor(`${file}: output '${t.name}'`, t, found, ctx, problems);
  }
  for (const t of spec.featureOutputs) {
    const found = outputs.get(t.name);
    if (found) checkTensor(`${file}: output '${t.name}'`, t, found, ctx, problems);
    else warnings.push(`${file}: no output '${t.name}' (${t.doc})`);
  }

  const familyLast = new Map<string, number>();
  for (const fam of spec.families) {
    const indices = sig.outputs
      .filter((v) => v.name.startsWith(fam.prefix) && /^\d+$/.test(v.name.slice(fam.prefix.length)))
      .map((v) => Number(v.name.slice(fam.prefix.length)))
      .sort((a, b) => a - b);
    const last = indices.length > 0 ? indices[indices.length - 1] : -1;
    if (last < fam.minLast) {
      problems.push(
        `${file}: expected outputs '${fam.prefix}0' .. '${fam.prefix}L' with L >= ${fam.minLast} (${formatExpected(fam, dtype)}, ${fam.doc}); found ${indices.length === 0 ? "none" : indices.map((i) => fam.prefix + i).join(", ")}`,
      );
      continue;
    }
    for (let k = 0; k <= last; k++) {
      const found = outputs.get(fam.prefix + k);
      if (found) checkTensor(`${file}: output '${fam.prefix}${k}'`, fam, found, ctx, problems);
      // Only the penultimate is read; a gap elsewhere is odd but harmless.
      else if (k === last - 1)
        problems.push(`${file}: missing output '${fam.prefix}${k}' (the penultimate hidden state)`);
      else warnings.push(`${file}: output '${fam.prefix}${k}' is missing (outputs ${fam.prefix}0..${last} expected)`);
    }
    familyLast.set(fam.prefix, last);
  }

  return { problems, warnings, hasResiduals, familyLast };
}

/** Checks across models: the two text encoders' widths add up to bundle.json's textEmbedDim. */
export function crossCheck(bindings: Bindings, bundle: Pick<BundleJson, "textEmbedDim">): string[] {
  const d1 = bindings.get("D1");
  const d2 = bindings.get("D2");
  if (d1 && d2 && d1.value + d2.value !== bundle.textEmbedDim) {
    return [
      `text encoders: D1 + D2 = ${d1.value} + ${d2.value} = ${d1.value + d2.value} (${d1.where}; ${d2.where}), but bundle.json textEmbedDim is ${bundle.textEmbedDim}`,
    ];
  }
  return [];
}
