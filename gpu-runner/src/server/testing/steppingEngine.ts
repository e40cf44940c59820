/**
 * A cheap JobEngine for tests of the service layer: per phase `steps` steps of `stepMs` (a "model call" each),
 * checking the abort signal between them like the pipeline does, and one phase image per phase. The real pipeline
 * engine is tested end to end in runner/pipelineEngine.test.ts.
 */
import type { JobEngine, JobOutcome } from "../engine";

export interface SteppingCalls {
  runs: number;
  /** Steps actually taken, over every run. */
  steps?: number;
}

export function steppingEngine(steps = 6, stepMs = 15, calls: SteppingCalls = { runs: 0 }): JobEngine {
  return {
    readiness: () => ({ ready: true, provider: "cpu", bundle: { name: "fake", version: "1", hash: "h" } }),
    async run(job, hooks): Promise<JobOutcome> {
      calls.runs++;
      for (let phase = 1; phase <= 2; phase++) {
        for (let step = 0; step < steps; step++) {
          if (hooks.signal.aborted) throw hooks.signal.reason;
          await new Promise((r) => setTimeout(r, stepMs));
          calls.steps = (calls.steps ?? 0) + 1;
          hooks.progress({ phase, step: step + 1, steps, percent: ((phase - 1) * steps + step + 1) * (50 / steps) });
        }
        await hooks.artifact({
          kind: "phase_image",
          phase,
          name: `phase-${phase}.png`,
          contentType: "image/png",
          bytes: new Uint8Array([phase, 1, 2]),
        });
      }
      return {
        width: job.params.width,
        height: job.params.height,
        phasesComputed: [1, 2],
        modelEvaluations: {},
        timingsMs: { total: 1 },
        warnings: [],
      };
    },
  };
}
