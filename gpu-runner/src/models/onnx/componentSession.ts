/**
 * One bundle component (a `model.onnx`) as an onnxruntime session: created on the chosen execution
 * provider, checked against the contract when created, then run by name with our tensors.
 */
import * as ort from "onnxruntime-node";
import type { OnnxComponent } from "../bundleJson";
import {
  checkSignature,
  type ModelSignature,
  type SignatureContext,
  type SignatureReport,
  signatureOf,
} from "../signatureCheck";
import type { Tensor } from "../types";
import { executionProviders, type ProviderName, providerFailure } from "./providers";
import { toTensor } from "./tensors";

/** Thrown when a model does not match the bundle contract. */
export class ContractError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`model bundle does not match the contract:\n  ${problems.join("\n  ")}`);
    this.name = "ContractError";
  }
}

export interface SessionConfig {
  provider: ProviderName;
  deviceId?: number;
  intraOpNumThreads?: number;
}

export class ComponentSession {
  private constructor(
    readonly component: OnnxComponent,
    /** Bundle-relative file name, for messages. */
    readonly file: string,
    private readonly session: ort.InferenceSession,
    readonly signature: ModelSignature,
    readonly report: SignatureReport,
  ) {}

  /** Creates the session and checks it; throws ContractError listing every mismatch. */
  static async create(
    component: OnnxComponent,
    path: string,
    file: string,
    config: SessionConfig,
    ctx: SignatureContext,
  ): Promise<ComponentSession> {
    const options: ort.InferenceSession.SessionOptions = {
      executionProviders: executionProviders(config.provider, config.deviceId),
      graphOptimizationLevel: "all",
    };
    if (config.intraOpNumThreads !== undefined) options.intraOpNumThreads = config.intraOpNumThreads;
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(path, options);
    } catch (e) {
      throw providerFailure(config.provider, file, e);
    }
    const signature = signatureOf(session);
    const report = checkSignature(component, file, signature, ctx);
    if (report.problems.length > 0) {
      await session.release();
      throw new ContractError(report.problems);
    }
    return new ComponentSession(component, file, session, signature, report);
  }

  /** Declared element type of an input (e.g. "float16"). */
  inputType(name: string): string {
    const v = this.signature.inputs.find((i) => i.name === name);
    if (!v) throw new Error(`${this.file}: no input '${name}'`);
    return v.type;
  }

  hasInput(name: string): boolean {
    return this.signature.inputs.some((i) => i.name === name);
  }

  hasOutput(name: string): boolean {
    return this.signature.outputs.some((o) => o.name === name);
  }

  /** Declared shape of an input (numbers for fixed dims). */
  inputShape(name: string): readonly (number | string)[] {
    const v = this.signature.inputs.find((i) => i.name === name);
    if (!v) throw new Error(`${this.file}: no input '${name}'`);
    return v.shape;
  }

  /** Runs with `feeds`, fetching only `fetches` (onnxruntime skips what they do not need). */
  async run(feeds: Record<string, ort.Tensor>, fetches: readonly string[]): Promise<Record<string, Tensor>> {
    let out: ort.InferenceSession.ReturnType;
    try {
      out = await this.session.run(feeds, [...fetches]);
    } catch (e) {
      const shapes = Object.entries(feeds)
        .map(([k, v]) => `${k} ${v.type} [${v.dims.join(", ")}]`)
        .join("; ");
      throw new Error(`${this.file}: inference failed: ${(e as Error).message} (feeds: ${shapes})`);
    }
    const result: Record<string, Tensor> = {};
    for (const name of fetches) result[name] = toTensor(out[name] as ort.Tensor, `${this.file} output '${name}'`);
    return result;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
