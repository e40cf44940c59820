/**
 * What the service runs a job with. The real engine runs the AccDiffusion pipeline on the loaded bundle
 * (pipelineEngine.ts); tests may give a cheaper one. The service owns queueing, signing, events and uploads.
 */
import type { ArtifactKind, RunnerJob } from "@accdiff/shared";

export interface ArtifactOut {
  kind: ArtifactKind;
  phase?: number;
  /** File name under the kind, e.g. "phase-2.png". */
  name: string;
  contentType: string;
  bytes: Uint8Array;
  width?: number;
  height?: number;
  meta?: Record<string, unknown>;
}

export interface JobHooks {
  signal: AbortSignal;
  progress(p: { phase: number; step: number; steps: number; percent: number; etaMs?: number }): void;
  /** Uploads an artifact and announces it; resolves once uploaded. */
  artifact(a: ArtifactOut): Promise<void>;
  /** Fetches a resume artifact or the user's image (a key relative to the job's uploadUrl, or a URL). */
  download(keyOrUrl: string): Promise<Uint8Array>;
}

export interface JobOutcome {
  width: number;
  height: number;
  phasesComputed: number[];
  modelEvaluations: Record<
    string,
    {
      unetCalls: number;
      unetSamples: number;
      controlnetCalls: number;
      controlnetSamples: number;
      textEncodings: number;
      vaeCalls: number;
    }
  >;
  timingsMs: Record<string, number>;
  warnings: string[];
}

export interface Readiness {
  ready: boolean;
  bundle?: { name: string; version: string; hash: string };
  provider?: string;
  gpuMemory?: { totalBytes?: number; usedBytes?: number } | null;
  detail?: string;
}

export interface JobEngine {
  readiness(): Readiness;
  run(job: RunnerJob, hooks: JobHooks): Promise<JobOutcome>;
}
