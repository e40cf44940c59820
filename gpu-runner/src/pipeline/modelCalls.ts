/**
 * Every model evaluation of a job goes through a ModelCaller: it checks the AbortSignal before each call (so a
 * cancellation takes effect between model calls, never leaving a half-updated latent visible), counts calls and batch
 * sizes per kind and phase, and times them so the result can report model time versus pipeline time.
 */
import { CropCache, controlledUNet } from "../models/controlCrops";
import type {
  ControlNetInput,
  ControlRequest,
  ControlResiduals,
  Models,
  Tensor,
  TextEmbedding,
  UNetInput,
  UNetOutput,
} from "../models/types";
import { throwIfAborted } from "./progress";

/** Model evaluations of one phase. Batch sizes include the classifier-free-guidance doubling. */
export interface PhaseCalls {
  unetBatchSizes: number[];
  controlnetBatchSizes: number[];
  /** Text-encoder runs this pipeline actually made (each unique text once per job, LRU hits excluded). */
  encodeTextCalls: number;
  /**
   * `encode_prompt` calls the reference would have made here: 1 for prompt+negative in phase 1, and with patch
   * prompts one per view per step of each upscaling phase (compare with golden `model_calls.encode_prompt_calls`).
   */
  referenceEncodePromptCalls: number;
  vaeDecodeCalls: number;
  vaeEncodeCalls: number;
  /** Milliseconds spent inside model calls of this phase. */
  modelMs: number;
}

export function emptyPhaseCalls(): PhaseCalls {
  return {
    unetBatchSizes: [],
    controlnetBatchSizes: [],
    encodeTextCalls: 0,
    referenceEncodePromptCalls: 0,
    vaeDecodeCalls: 0,
    vaeEncodeCalls: 0,
    modelMs: 0,
  };
}

export class ModelCaller {
  /** Calls per phase key. */
  readonly calls = new Map<number, PhaseCalls>();
  private phaseKey = 1;
  /** Host crops for models without `unetControlled` (rebuilt only when a batch's boxes change). */
  private readonly crops = new CropCache();

  constructor(
    readonly models: Models,
    private readonly signal?: AbortSignal,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Subsequent calls are attributed to this phase. */
  setPhase(key: number): void {
    this.phaseKey = key;
  }

  get phase(): number {
    return this.phaseKey;
  }

  current(): PhaseCalls {
    let c = this.calls.get(this.phaseKey);
    if (!c) {
      c = emptyPhaseCalls();
      this.calls.set(this.phaseKey, c);
    }
    return c;
  }

  /** Records `n` encode_prompt calls the reference would have made (nothing runs). */
  countReferenceEncode(n: number): void {
    this.current().referenceEncodePromptCalls += n;
  }

  checkAbort(): void {
    throwIfAborted(this.signal);
  }

  totalModelMs(): number {
    let s = 0;
    for (const c of this.calls.values()) s += c.modelMs;
    return s;
  }

  private async timed<T>(run: () => Promise<T>): Promise<T> {
    throwIfAborted(this.signal);
    const t0 = this.now();
    const out = await run();
    this.current().modelMs += this.now() - t0;
    return out;
  }

  encodeText = (text: string): Promise<TextEmbedding> => {
    this.current().encodeTextCalls++;
    return this.timed(() => this.models.encodeText(text));
  };

  unet(input: UNetInput, residuals?: ControlResiduals): Promise<UNetOutput> {
    this.current().unetBatchSizes.push(input.sample.shape[0]);
    return this.timed(() => this.models.unet(input, residuals));
  }

  /**
   * ControlNet + UNet of one batch (counted as one call of each, as the reference makes them): one fused call where
   * the models have `unetControlled`, otherwise host crops, `controlnet`, then `unet` with its residuals.
   */
  unetControlled(input: UNetInput, control: ControlRequest): Promise<UNetOutput> {
    const c = this.current();
    c.controlnetBatchSizes.push(input.sample.shape[0]);
    c.unetBatchSizes.push(input.sample.shape[0]);
    const m = this.models;
    if (m.unetControlled) return this.timed(() => m.unetControlled!(input, control));
    return this.timed(() => controlledUNet(m, input, control, this.crops));
  }

  /** Drops the host crops (at the end of a phase: they are large). */
  releaseCrops(): void {
    this.crops.clear();
  }

  controlnet(input: ControlNetInput): Promise<ControlResiduals> {
    this.current().controlnetBatchSizes.push(input.sample.shape[0]);
    return this.timed(() => this.models.controlnet(input));
  }

  vaeDecode(latents: Tensor): Promise<Tensor> {
    this.current().vaeDecodeCalls++;
    return this.timed(() => this.models.vaeDecode(latents));
  }

  vaeEncode(image: Tensor): Promise<Tensor> {
    this.current().vaeEncodeCalls++;
    return this.timed(() => this.models.vaeEncode(image));
  }
}
