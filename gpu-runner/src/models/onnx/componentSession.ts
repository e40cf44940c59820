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
import { threadCpuMs } from "./threadCpu";

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

/** What crossed between the host and onnxruntime, and the time spent inside `session.run`. */
export interface IoStats {
  runs: number;
  /** Bytes of every tensor fed (each call counts all its feeds). */
  bytesIn: number;
  /** Bytes of every output fetched. */
  bytesOut: number;
  /** Wall-clock and process CPU milliseconds inside session.run (onnxruntime's own threads included). */
  runMs: number;
  runCpuMs: number;
  /** CPU milliseconds of the calling (main) thread inside session.run (NaN where the platform does not tell). */
  runThreadCpuMs: number;
}

export function emptyIoStats(): IoStats {
  return { runs: 0, bytesIn: 0, bytesOut: 0, runMs: 0, runCpuMs: 0, runThreadCpuMs: 0 };
}

export class ComponentSession {
  readonly io: IoStats = emptyIoStats();

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

  /** Declared element type of an output. */
  outputType(name: string): string {
    const v = this.signature.outputs.find((o) => o.name === name);
    if (!v) throw new Error(`${this.file}: no output '${name}'`);
    return v.type;
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
    const out = await this.runRaw(feeds, fetches);
    const result: Record<string, Tensor> = {};
    for (const name of fetches) result[name] = toTensor(out[name] as ort.Tensor, `${this.file} output '${name}'`);
    return result;
  }

  /**
   * Runs and returns onnxruntime's tensors as they are. `into` names outputs to write into given tensors (of the
   * exact output shape and type): onnxruntime fills them in place.
   */
  async runRaw(
    feeds: Record<string, ort.Tensor>,
    fetches: readonly string[],
    into: Record<string, ort.Tensor> = {},
  ): Promise<ort.InferenceSession.ReturnType> {
    const wanted: Record<string, ort.Tensor | null> = {};
    for (const name of fetches) wanted[name] = into[name] ?? null;
    let out: ort.InferenceSession.ReturnType;
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const th0 = threadCpuMs();
    try {
      out = await this.session.run(feeds, wanted as ort.InferenceSession.FetchesType);
      const c = process.cpuUsage(c0);
      const th1 = threadCpuMs();
      this.io.runThreadCpuMs += th0 === null || th1 === null ? Number.NaN : th1 - th0;
      this.io.runs++;
      this.io.runMs += performance.now() - t0;
      this.io.runCpuMs += (c.user + c.system) / 1000;
      for (const f of Object.values(feeds)) this.io.bytesIn += (f.data as ArrayBufferView).byteLength;
      for (const name of fetches) this.io.bytesOut += ((out[name] as ort.Tensor).data as ArrayBufferView).byteLength;
    } catch (e) {
      const shapes = Object.entries(feeds)
        .map(([k, v]) => `${k} ${v.type} [${v.dims.join(", ")}]`)
        .join("; ");
      throw new Error(`${this.file}: inference failed: ${(e as Error).message} (feeds: ${shapes})`);
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
