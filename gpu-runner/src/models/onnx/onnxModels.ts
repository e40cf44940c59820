/**
 * `Models` over onnxruntime-node: a bundle folder (docs/model-bundle.md) loaded into one session per
 * component, each checked against the contract when created and reused for every call.
 */
import { existsSync } from "node:fs";
import {
  BUNDLE_FORMAT,
  type BundleJson,
  bundleComponents,
  componentPath,
  type OnnxComponent,
  readBundleJson,
  toBundleInfo,
  tokenizerDir,
} from "../bundleJson";
import { CropCache, controlledUNet } from "../controlCrops";
import { type Bindings, crossCheck, type SignatureContext } from "../signatureCheck";
import { type ClipTokenizer, loadClipTokenizer } from "../tokenizer";
import type {
  BundleInfo,
  ControlNetInput,
  ControlRequest,
  ControlResiduals,
  Models,
  Tensor,
  TextEmbedding,
  TokenizedPrompt,
  UNetInput,
  UNetOutput,
} from "../types";
import { ComponentSession, ContractError, emptyIoStats, type IoStats, type SessionConfig } from "./componentSession";
import { PaddedConditions, runFused } from "./fusedCalls";
import { HalfScratch } from "./halfCodec";
import {
  assertCudaInstalled,
  cudaProviderInstalled,
  type ProviderName,
  type ProviderRequest,
  ProviderUnavailableError,
} from "./providers";
import { assertTensor, concatRows, floatFeed, HalfCache, idsFeed, sliceRows } from "./tensors";
import { runControlNet, runUNet, type UNetContext, ZeroResidualCache } from "./unetCalls";

export interface ModelsLogger {
  info(message: string): void;
  warn(message: string): void;
}

export interface OnnxModelsOptions {
  /** Execution provider; "auto" = CUDA when installed and working, else CPU (logged). Default "auto". */
  provider?: ProviderRequest;
  /** CUDA device ordinal. */
  deviceId?: number;
  /**
   * Most batch rows per UNet/ControlNet run: larger batches are split and the outputs concatenated
   * (a memory limit only; results do not depend on it). Default: no limit.
   */
  maxBatchRows?: number;
  /** Create sessions on first use instead of at load (each is still checked when created). */
  lazy?: boolean;
  intraOpNumThreads?: number;
  logger?: ModelsLogger;
  /**
   * How `unetControlled` runs: "fused" (default) through the bundle's `unet_controlnet` when it has one, "separate"
   * always as host crops -> controlnet -> residuals -> unet (the data path of bundles without it).
   */
  controlPath?: "fused" | "separate";
  /**
   * Keep half-precision copies of the text conditioning (fp16 bundles), made once per phase (default true); false
   * converts it at every call.
   */
  halfCopies?: boolean;
}

/** Sessions whose creation has finished, by their promise (for the synchronous ioStats). */
const settled = new WeakMap<Promise<ComponentSession>, ComponentSession>();

const SILENT: ModelsLogger = { info: () => {}, warn: () => {} };
/** Smallest model first: it doubles as the probe of the "auto" provider. */
const LOAD_ORDER: readonly OnnxComponent[] = [
  "text_encoder",
  "vae_decoder",
  "vae_encoder",
  "text_encoder_2",
  "controlnet",
  "unet",
  "unet_controlnet",
];

export interface OnnxModels extends Models {
  /** The execution provider actually in use. */
  readonly provider: ProviderName;
  readonly bundle: BundleJson;
  /** Whether `unetControlled` runs the fused component. */
  readonly fused: boolean;
  /** Host <-> onnxruntime traffic and time inside session.run so far, summed over the sessions. */
  ioStats(): IoStats;
  dispose(): Promise<void>;
}

/** Loads the bundle in `dir`. Throws with every problem listed when it does not match the contract. */
export async function loadOnnxModels(dir: string, opts: OnnxModelsOptions = {}): Promise<OnnxModels> {
  const logger = opts.logger ?? SILENT;
  const parsed = await readBundleJson(dir);
  if (!parsed.ok) throw new ContractError(parsed.problems);
  for (const w of parsed.warnings) logger.warn(w);
  const bundle = parsed.bundle;
  const components = bundleComponents(bundle).filter((c) => c !== "unet_controlnet" || opts.controlPath !== "separate");
  const missing = components
    .filter((c) => !existsSync(componentPath(dir, bundle, c)))
    .map((c) => `${bundle.components[c]}: file not found (bundle.json components.${c})`);
  if (missing.length > 0) throw new ContractError(missing);
  const [tok1, tok2] = await Promise.all([
    loadClipTokenizer(tokenizerDir(dir, bundle, "tokenizer"), bundle.maxTokens),
    loadClipTokenizer(tokenizerDir(dir, bundle, "tokenizer_2"), bundle.maxTokens),
  ]);

  const request = opts.provider ?? "auto";
  if (request === "cuda") assertCudaInstalled();
  let provider: ProviderName = request === "auto" ? "cpu" : request;
  if (request === "auto") {
    const cuda = cudaProviderInstalled();
    if (cuda.installed) provider = "cuda";
    else logger.info(`execution provider: cpu (auto: ${cuda.why})`);
  }
  const ctx: SignatureContext = { bundle, bindings: new Map() as Bindings };
  const sessions = new Map<OnnxComponent, Promise<ComponentSession>>();
  const config = (): SessionConfig => ({
    provider,
    deviceId: opts.deviceId,
    intraOpNumThreads: opts.intraOpNumThreads,
  });
  const open = (c: OnnxComponent): Promise<ComponentSession> => {
    let s = sessions.get(c);
    if (s === undefined) {
      const created = ComponentSession.create(c, componentPath(dir, bundle, c), bundle.components[c]!, config(), ctx);
      created.then(
        (session) => settled.set(created, session),
        () => {},
      );
      s = created;
      sessions.set(c, s);
    }
    return s;
  };

  const problems: string[] = [];
  const tryOpen = async (c: OnnxComponent): Promise<void> => {
    try {
      await open(c);
    } catch (e) {
      if (!(e instanceof ContractError)) throw e;
      problems.push(...e.problems);
    }
  };
  // "auto" probes CUDA with a real session (the smallest model): onnxruntime throws rather than
  // fall back, and a machine can have the provider library but no usable GPU.
  const first = LOAD_ORDER.find((c) => components.includes(c))!;
  if (request === "auto" && provider === "cuda") {
    try {
      await open(first);
      logger.info("execution provider: cuda (auto)");
    } catch (e) {
      // A contract problem is reported with the others below (tryOpen sees the same rejection).
      if (e instanceof ContractError) problems.push(...e.problems);
      else if (!(e instanceof ProviderUnavailableError)) throw e;
      else {
        sessions.delete(first);
        logger.warn(`execution provider: cpu (auto; cuda unusable: ${e.message})`);
        provider = "cpu";
      }
    }
  }
  // Lazy mode still opens one session so that a provider failure surfaces at load.
  for (const c of opts.lazy ? [first] : LOAD_ORDER.filter((c) => components.includes(c))) await tryOpen(c);
  if (!opts.lazy) problems.push(...crossCheck(ctx.bindings, bundle));
  if (problems.length > 0) {
    await Promise.allSettled([...sessions.values()].map(async (s) => (await s).release()));
    throw new ContractError([...new Set(problems)]);
  }
  return new OnnxBundleModels(bundle, provider, tok1, tok2, open, sessions, {
    maxBatchRows: opts.maxBatchRows,
    fused: components.includes("unet_controlnet"),
    halves: opts.halfCopies === false ? null : new HalfCache(),
  });
}

class OnnxBundleModels implements OnnxModels {
  readonly info: BundleInfo;
  private readonly zeros = new ZeroResidualCache();
  private readonly crops = new CropCache();
  private readonly conditions = new PaddedConditions();
  readonly fused: boolean;
  private readonly maxBatchRows: number | undefined;
  private readonly halves: HalfCache | null;
  private readonly scratch: { feed: HalfScratch; fetch: HalfScratch } | null;

  constructor(
    readonly bundle: BundleJson,
    readonly provider: ProviderName,
    private readonly tok1: ClipTokenizer,
    private readonly tok2: ClipTokenizer,
    private readonly open: (c: OnnxComponent) => Promise<ComponentSession>,
    private readonly sessions: Map<OnnxComponent, Promise<ComponentSession>>,
    opts: { maxBatchRows: number | undefined; fused: boolean; halves: HalfCache | null },
  ) {
    this.info = toBundleInfo(bundle);
    this.maxBatchRows = opts.maxBatchRows;
    this.fused = opts.fused;
    this.halves = opts.halves;
    this.scratch = opts.halves ? { feed: new HalfScratch(), fetch: new HalfScratch() } : null;
  }

  ioStats(): IoStats {
    const total = emptyIoStats();
    for (const p of this.sessions.values()) {
      // Every session in the map has been created by now (load opens them, or a call awaited it).
      const s = settled.get(p);
      if (!s) continue;
      for (const k of Object.keys(total) as (keyof IoStats)[]) total[k] += s.io[k];
    }
    return total;
  }

  tokenize(text: string): TokenizedPrompt {
    return this.tok1.tokenize(text);
  }

  /** Penultimate hidden state of one encoder, [T, width]. */
  private async penultimate(
    component: "text_encoder" | "text_encoder_2",
    ids: Int32Array,
    extra: string[],
  ): Promise<Record<string, Tensor>> {
    const s = await this.open(component);
    const last = s.report.familyLast.get("hidden_states.")!;
    const name = `hidden_states.${last - 1}`;
    const out = await s.run({ input_ids: idsFeed(ids, [1, ids.length], s.inputType("input_ids")) }, [name, ...extra]);
    return { hidden: out[name], ...out };
  }

  async encodeText(text: string): Promise<TextEmbedding> {
    const T = this.info.maxTokens;
    const [a, b] = await Promise.all([
      this.penultimate("text_encoder", this.tok1.tokenize(text).ids, []),
      this.penultimate("text_encoder_2", this.tok2.tokenize(text).ids, ["text_embeds"]),
    ]);
    const d1 = a.hidden.shape[2];
    const d2 = b.hidden.shape[2];
    if (d1 + d2 !== this.info.textEmbedDim) {
      throw new Error(
        `text encoders give ${d1} + ${d2} features, bundle.json textEmbedDim is ${this.info.textEmbedDim}`,
      );
    }
    // diffusers: torch.concat([te1.hidden_states[-2], te2.hidden_states[-2]], dim=-1), per token.
    const hidden = new Float32Array(T * (d1 + d2));
    for (let t = 0; t < T; t++) {
      hidden.set(a.hidden.data.subarray(t * d1, (t + 1) * d1), t * (d1 + d2));
      hidden.set(b.hidden.data.subarray(t * d2, (t + 1) * d2), t * (d1 + d2) + d1);
    }
    const pooled = b.text_embeds.data.slice(0, this.info.pooledDim);
    return { hidden, pooled };
  }

  private async unetContext(component: "unet" | "controlnet" | "unet_controlnet"): Promise<UNetContext> {
    return {
      session: await this.open(component),
      info: this.info,
      maxBatchRows: this.maxBatchRows,
      zeros: this.zeros,
      broadcastZeros: this.bundle.format === BUNDLE_FORMAT,
      halves: this.halves,
      scratch: this.scratch,
    };
  }

  async unetControlled(input: UNetInput, control: ControlRequest): Promise<UNetOutput> {
    if (!this.bundle.controlnet) throw new Error(`bundle '${this.info.name}' has no ControlNet`);
    if (!this.fused) return controlledUNet(this, input, control, this.crops);
    return runFused({ ...(await this.unetContext("unet_controlnet")), conditions: this.conditions }, input, control);
  }

  async unet(input: UNetInput, residuals?: ControlResiduals): Promise<UNetOutput> {
    return runUNet(await this.unetContext("unet"), input, residuals);
  }

  async controlnet(input: ControlNetInput): Promise<ControlResiduals> {
    if (!this.bundle.controlnet) throw new Error(`bundle '${this.info.name}' has no ControlNet`);
    return runControlNet(await this.unetContext("controlnet"), input);
  }

  /** The VAE models take one image at a time (`b` = 1); larger batches run row by row. */
  private async vae(
    component: "vae_decoder" | "vae_encoder",
    x: Tensor,
    input: string,
    output: string,
  ): Promise<Tensor> {
    assertTensor(x, `${component} ${input}`, 4);
    const s = await this.open(component);
    const type = s.inputType(input);
    const parts: Tensor[] = [];
    for (let r = 0; r < x.shape[0]; r++) {
      const row = sliceRows(x, r, r + 1);
      const out = await s.run({ [input]: floatFeed(row.data, row.shape, type) }, [output]);
      parts.push(out[output]);
    }
    return concatRows(parts);
  }

  vaeDecode(latents: Tensor): Promise<Tensor> {
    return this.vae("vae_decoder", latents, "latent_sample", "sample");
  }

  vaeEncode(image: Tensor): Promise<Tensor> {
    return this.vae("vae_encoder", image, "sample", "latent_sample");
  }

  async dispose(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    this.zeros.clear();
    this.crops.clear();
    await Promise.allSettled(all.map(async (s) => (await s).release()));
  }
}
