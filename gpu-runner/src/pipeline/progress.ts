/**
 * Progress events, ETA and cancellation.
 *
 * Work is measured in latent pixels denoised: a step of a phase with latents h x w costs h*w per branch
 * (MultiDiffusion and dilated sampling each evaluate about the whole latent), so the percentage moves in proportion
 * to model time rather than in equal jumps per phase. The ETA extrapolates the measured time per unit of work.
 */

export interface ProgressEvent {
  /** Phase key (1 = base phase, s = upscaling at scale s). */
  phase: number;
  /** Steps finished in this phase (1..steps). */
  step: number;
  steps: number;
  /** 0..100 over the whole job, non-decreasing. */
  percent: number;
  /** Estimated milliseconds left, null before the first step finished. */
  etaMs: number | null;
}

export type ProgressListener = (e: ProgressEvent) => void;

/** A cancellation error with the conventional name, whatever reason the signal carries. */
export function abortError(signal?: AbortSignal): Error {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error && reason.name === "AbortError") return reason;
  const err = new DOMException(
    reason instanceof Error ? `aborted: ${reason.message}` : "the generation was cancelled",
    "AbortError",
  );
  return err;
}

/** Throws an AbortError when the signal has fired; called between model calls. */
export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw abortError(signal);
}

export class ProgressTracker {
  private done = 0;
  private lastPercent = 0;
  private readonly start: number;

  constructor(
    /** Total work units of the job (see phaseWork). */
    private readonly total: number,
    private readonly listener?: ProgressListener,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.start = now();
  }

  /** Records a finished step of `work` units and emits an event. */
  step(phase: number, step: number, steps: number, work: number): void {
    this.done += work;
    if (!this.listener) return;
    const frac = this.total > 0 ? Math.min(1, this.done / this.total) : 1;
    const percent = Math.max(this.lastPercent, Math.round(frac * 10000) / 100);
    this.lastPercent = percent;
    const elapsed = this.now() - this.start;
    const etaMs = this.done > 0 ? Math.max(0, (elapsed * (this.total - this.done)) / this.done) : null;
    this.listener({ phase, step, steps, percent, etaMs });
  }

  /** Work already accounted for (skipped phases when resuming count as done so the percentage stays honest). */
  skip(work: number): void {
    this.done += work;
  }
}

/** Work units of one denoising step of a phase: latent pixels times the branches that run. */
export function stepWork(latentHeight: number, latentWidth: number, branches: number): number {
  return latentHeight * latentWidth * Math.max(1, branches);
}
