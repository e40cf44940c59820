/**
 * Text conditioning: each unique text of a job is encoded once, and an LRU keeps embeddings across jobs.
 *
 * The reference calls `encode_prompt` once for the prompt and then, with patch prompts, once per view per step of
 * every upscaling phase (encoding the negative prompt again each time): at 4096^2 and 50 steps that is thousands of
 * text-encoder runs for a few dozen distinct strings. Encoding is a pure function of (bundle, text), so we memoise it
 * per job and across jobs (keyed by the bundle hash). The golden counts the reference's calls; the pipeline reports
 * both numbers (see ModelCaller: `encodeTextCalls` is what ran, `referenceEncodePromptCalls` what the reference would
 * have run).
 *
 * `cfgConditioning` lays the rows out as the reference's classifier-free guidance batch: per view [negative, text].
 */
import type { Models, Tensor, TextEmbedding } from "../models/types";

/** A small least-recently-used map (Map keeps insertion order; re-inserting on get marks as recent). */
export class EmbeddingLru {
  private readonly map = new Map<string, TextEmbedding>();

  constructor(readonly capacity = 64) {}

  get(key: string): TextEmbedding | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  set(key: string, value: TextEmbedding): void {
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.capacity) {
      const oldest = this.map.keys().next().value as string;
      this.map.delete(oldest);
    }
  }

  get size(): number {
    return this.map.size;
  }

  clear(): void {
    this.map.clear();
  }
}

/** The process-wide cache the runner shares between jobs (pass `null` to a job to disable it). */
export const sharedEmbeddingLru = new EmbeddingLru(64);

/** Encodes through whatever counts and guards the model calls (ModelCaller.encodeText). */
export type EncodeFn = (text: string) => Promise<TextEmbedding>;

/** Per-job text cache: one encoder run per unique text, tokenizer warnings once per text. */
export class JobTexts {
  private readonly byText = new Map<string, Promise<TextEmbedding>>();
  private readonly warned = new Set<string>();

  constructor(
    private readonly models: Models,
    private readonly encode: EncodeFn,
    private readonly lru: EmbeddingLru | null,
    private readonly warnings: string[],
  ) {}

  embed(text: string): Promise<TextEmbedding> {
    let p = this.byText.get(text);
    if (!p) {
      this.warnIfTruncated(text);
      const key = `${this.models.info.hash}\u0000${text}`;
      const hit = this.lru?.get(key);
      p = hit
        ? Promise.resolve(hit)
        : this.encode(text).then((e) => {
            this.lru?.set(key, e);
            return e;
          });
      // A failed encode (e.g. cancellation) must not poison the cache.
      p.catch(() => this.byText.delete(text));
      this.byText.set(text, p);
    }
    return p;
  }

  /** Number of distinct texts this job asked for. */
  get uniqueTexts(): number {
    return this.byText.size;
  }

  private warnIfTruncated(text: string): void {
    if (this.warned.has(text)) return;
    this.warned.add(text);
    const tok = this.models.tokenize(text);
    if (tok.truncated) {
      const n = this.models.info.maxTokens;
      const short = text.length > 60 ? `${text.slice(0, 57)}...` : text;
      this.warnings.push(`text cut to ${n} tokens by the CLIP tokenizer: "${short}"`);
    }
  }
}

/**
 * Classifier-free guidance conditioning for a batch of views: rows [neg, text_0, neg, text_1, ...]
 * (the reference's torch.cat([negative, positive]) per view, concatenated over the batch).
 */
export function cfgConditioning(
  negative: TextEmbedding,
  texts: readonly TextEmbedding[],
  maxTokens: number,
  embedDim: number,
  pooledDim: number,
): { encoderHiddenStates: Tensor; textEmbeds: Tensor } {
  const rows = texts.length * 2;
  const hLen = maxTokens * embedDim;
  const hidden = new Float32Array(rows * hLen);
  const pooled = new Float32Array(rows * pooledDim);
  for (let v = 0; v < texts.length; v++) {
    hidden.set(negative.hidden.subarray(0, hLen), 2 * v * hLen);
    hidden.set(texts[v].hidden.subarray(0, hLen), (2 * v + 1) * hLen);
    pooled.set(negative.pooled.subarray(0, pooledDim), 2 * v * pooledDim);
    pooled.set(texts[v].pooled.subarray(0, pooledDim), (2 * v + 1) * pooledDim);
  }
  return {
    encoderHiddenStates: { data: hidden, shape: [rows, maxTokens, embedDim] },
    textEmbeds: { data: pooled, shape: [rows, pooledDim] },
  };
}

/**
 * Memoises `cfgConditioning` batches within a phase: the same prompt list recurs at every step (all views share the
 * prompt, or patch prompts are fixed per phase), so the large [2*vb, 77, 2048] tensors are built once per phase.
 */
export class ConditioningCache {
  private readonly batches = new Map<string, { encoderHiddenStates: Tensor; textEmbeds: Tensor }>();

  constructor(
    private readonly texts: JobTexts,
    private readonly maxTokens: number,
    private readonly embedDim: number,
    private readonly pooledDim: number,
  ) {}

  async batch(
    negative: string,
    prompts: readonly string[],
  ): Promise<{ encoderHiddenStates: Tensor; textEmbeds: Tensor }> {
    const key = `${negative}\u0001${prompts.join("\u0000")}`;
    const hit = this.batches.get(key);
    if (hit) return hit;
    const neg = await this.texts.embed(negative);
    const embs: TextEmbedding[] = [];
    for (const p of prompts) embs.push(await this.texts.embed(p));
    const built = cfgConditioning(neg, embs, this.maxTokens, this.embedDim, this.pooledDim);
    this.batches.set(key, built);
    return built;
  }

  /** Drops the phase's batches (they are large); the per-text embeddings stay. */
  clear(): void {
    this.batches.clear();
  }
}
