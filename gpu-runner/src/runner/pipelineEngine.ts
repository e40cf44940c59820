/**
 * The runner's real JobEngine: a signed RunnerJob runs AccDiffusion v2 on the loaded bundle.
 *
 *   inputs   the user's image (checked against its SHA-256), and when resuming the earlier phases' artifacts
 *   run      runAccDiffusion with the job's AbortSignal (cancellation between model calls) and progress mapped to
 *            the protocol's phases
 *   outputs  each phase's artifacts (artifacts.ts), uploaded one by one through hooks.artifact as soon as that phase
 *            is done (the pipeline's onPhase), then the outcome (outcome.ts)
 *
 * Publishing per phase means a runner that dies mid-run loses only the phase in progress: the worker keeps the
 * phases already uploaded and re-dispatches from the deepest one.
 */
import { type RunnerJob, sha256Hex } from "@accdiff/shared";
import { decodeImage } from "../images/encode";
import type { Models } from "../models/types";
import {
  abortError,
  type EmbeddingLru,
  InvalidRequestError,
  type ProgressEvent,
  type ResumeState,
  runAccDiffusion,
  UnsupportedSizeError,
} from "../pipeline/index";
import type { JobEngine, JobHooks, JobOutcome, Readiness } from "../server/engine";
import type { Logger } from "../server/log";
import { phaseArtifacts, protocolPhase } from "./artifacts";
import { downloadFailure, isOutOfMemory, markRetryable, uploadFailure, withFailureCode } from "./failures";
import type { GpuMemory } from "./gpuMemory";
import { NpyFormatError } from "./npy";
import { outcomeOf } from "./outcome";
import { toPipelineRequest } from "./requestMapping";
import { loadResumeState, ResumeArtifactError } from "./resumeState";

export interface PipelineEngineOptions {
  /** The loaded bundle, or its loading: readiness says "loading" until it resolves. */
  models: Models | Promise<Models>;
  /** The execution provider actually in use; default the models' own `provider` (OnnxModels). */
  provider?: string;
  gpuMemory?: () => GpuMemory | null;
  log?: Logger;
  /** Cross-job text-embedding cache; default the pipeline's process-wide one. */
  embeddingCache?: EmbeddingLru | null;
}

export interface PipelineEngine extends JobEngine {
  /** Resolves with the models once loaded (rejects when loading failed). */
  readonly loaded: Promise<Models>;
}

type LoadState = { kind: "loading" } | { kind: "ready"; models: Models } | { kind: "failed"; error: string };

export function createPipelineEngine(o: PipelineEngineOptions): PipelineEngine {
  let state: LoadState = { kind: "loading" };
  const loaded = Promise.resolve(o.models).then(
    (models) => {
      state = { kind: "ready", models };
      return models;
    },
    (e: unknown) => {
      state = { kind: "failed", error: e instanceof Error ? e.message : String(e) };
      throw e;
    },
  );
  loaded.catch(() => {}); // reported through readiness and run()

  return {
    loaded,
    readiness(): Readiness {
      if (state.kind === "loading") return { ready: false, detail: "loading the model bundle" };
      if (state.kind === "failed") return { ready: false, detail: `the model bundle failed to load: ${state.error}` };
      const { name, version, hash } = state.models.info;
      return {
        ready: true,
        bundle: { name, version, hash },
        // The provider in use: given, or the one an OnnxModels reports (auto may have fallen back to cpu).
        provider: o.provider ?? (state.models as { provider?: string }).provider ?? "unknown",
        gpuMemory: o.gpuMemory?.() ?? null,
      };
    },
    async run(job, hooks) {
      const models = await loaded;
      const log = o.log?.child({ jobId: job.jobId, attempt: job.attempt });
      if (job.bundleId !== models.info.name) {
        log?.warn("job names another bundle than the loaded one", { bundleId: job.bundleId, loaded: models.info.name });
      }
      try {
        return await runJob(models, job, hooks, o.embeddingCache);
      } catch (e) {
        if (hooks.signal.aborted) throw abortError(hooks.signal);
        throw classify(e);
      }
    },
  };
}

/**
 * Request and artifact problems are final; memory and I/O trouble may pass. Transfers are classified where they
 * fail (downloadFailure, uploadFailure) and keep that mark here.
 */
function classify(e: unknown) {
  if (e instanceof UnsupportedSizeError) return withFailureCode(markRetryable(e, false), "unsupported_size");
  if (e instanceof InvalidRequestError) return withFailureCode(markRetryable(e, false), "invalid_request");
  if (e instanceof ResumeArtifactError || e instanceof NpyFormatError) {
    return withFailureCode(markRetryable(e, false), "input_unavailable");
  }
  if (isOutOfMemory(e)) return withFailureCode(markRetryable(e, true), "out_of_memory");
  // What is left failed inside the pipeline or a model call (a contract mismatch, an onnxruntime error).
  return withFailureCode(markRetryable(e, false), "model_error");
}

async function runJob(
  models: Models,
  job: RunnerJob,
  hooks: JobHooks,
  embeddingCache: EmbeddingLru | null | undefined,
): Promise<JobOutcome> {
  const t0 = performance.now();
  const download = async (what: string, keyOrUrl: string) => {
    try {
      return await hooks.download(keyOrUrl);
    } catch (e) {
      if (hooks.signal.aborted) throw abortError(hooks.signal);
      throw downloadFailure(what, e);
    }
  };
  const initImage = job.params.image ? await inputImage(job, download) : undefined;
  let resume: ResumeState | undefined;
  if (job.resume) {
    resume = await loadResumeState({
      resume: job.resume,
      fromImage: job.params.image !== null,
      tokens: models.tokenize(job.params.prompt).tokens,
      download: (key) => download("a resume artifact", key),
    });
  }
  const inputsMs = performance.now() - t0;

  let uploadMs = 0;
  const result = await runAccDiffusion(models, toPipelineRequest(job.params, initImage), {
    signal: hooks.signal,
    resume,
    // Each phase is published as soon as it is done: a later crash or cancel keeps it (the worker caches it and a
    // re-dispatch resumes from it).
    onPhase: async (ph, state) => {
      const t = performance.now();
      for await (const artifact of phaseArtifacts(job, state, ph)) {
        if (hooks.signal.aborted) throw abortError(hooks.signal);
        try {
          await hooks.artifact(artifact);
        } catch (e) {
          if (hooks.signal.aborted) throw abortError(hooks.signal);
          throw uploadFailure(`${artifact.kind}/${artifact.name}`, e);
        }
      }
      uploadMs += performance.now() - t;
    },
    onProgress: (e: ProgressEvent) =>
      hooks.progress({
        phase: protocolPhase(e.phase),
        step: e.step,
        steps: e.steps,
        percent: e.percent,
        ...(e.etaMs !== null ? { etaMs: Math.round(e.etaMs) } : {}),
      }),
    ...(embeddingCache !== undefined ? { embeddingCache } : {}),
  });

  return outcomeOf(result, { inputsMs, uploadMs });
}

/** A final failure of the job's input (its image): another attempt would see the same bytes. */
const badInput = (message: string) => withFailureCode(markRetryable(new Error(message), false), "invalid_request");

/** The user's image: downloaded, checked against the hash and size the request names, decoded to RGB. */
async function inputImage(job: RunnerJob, download: (what: string, keyOrUrl: string) => Promise<Uint8Array>) {
  const ref = job.params.image!;
  if (!job.imageUrl) throw badInput("the request names an input image but the job has no imageUrl");
  const bytes = await download("the input image", job.imageUrl);
  if ((await sha256Hex(bytes)) !== ref.sha256) {
    throw badInput("the input image does not match its SHA-256");
  }
  let img: Awaited<ReturnType<typeof decodeImage>>;
  try {
    img = await decodeImage(bytes);
  } catch (e) {
    throw badInput(`the input image cannot be decoded: ${(e as Error).message}`);
  }
  if (img.width !== ref.width || img.height !== ref.height) {
    throw badInput(`the input image is ${img.width}x${img.height}, the request says ${ref.width}x${ref.height}`);
  }
  return img;
}
