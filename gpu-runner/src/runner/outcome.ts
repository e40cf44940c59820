/**
 * A pipeline result -> the protocol's `completed` fields: the phases this attempt computed, model evaluations per
 * phase (what the worker bills and reports), timings and warnings.
 */
import type { PhaseCalls, PipelineResult } from "../pipeline/index";
import type { JobOutcome } from "../server/engine";
import { protocolPhase } from "./artifacts";

type Evaluations = JobOutcome["modelEvaluations"][string];

/**
 * UNet and ControlNet forward passes of a phase and their samples (batch sizes summed, CFG doubling included): what
 * the worker bills here and the benchmark compares against the reference (tests/bench/evalCounts.ts).
 */
export function batchCounts(
  c: PhaseCalls,
): Pick<Evaluations, "unetCalls" | "unetSamples" | "controlnetCalls" | "controlnetSamples"> {
  let unetSamples = 0;
  for (const b of c.unetBatchSizes) unetSamples += b;
  let controlnetSamples = 0;
  for (const b of c.controlnetBatchSizes) controlnetSamples += b;
  return {
    unetCalls: c.unetBatchSizes.length,
    unetSamples,
    controlnetCalls: c.controlnetBatchSizes.length,
    controlnetSamples,
  };
}

function evaluations(c: PhaseCalls): Evaluations {
  return { ...batchCounts(c), textEncodings: c.encodeTextCalls, vaeCalls: c.vaeDecodeCalls + c.vaeEncodeCalls };
}

/** Model evaluations keyed by protocol phase (as strings); pipeline phases sharing a protocol phase are summed. */
export function modelEvaluations(byPhase: PipelineResult["modelCalls"]["byPhase"]): JobOutcome["modelEvaluations"] {
  const out: JobOutcome["modelEvaluations"] = {};
  const ids = Object.keys(byPhase)
    .map(Number)
    .sort((a, b) => a - b);
  for (const id of ids) {
    const e = evaluations(byPhase[id]);
    const key = String(protocolPhase(id));
    const prev = out[key];
    out[key] = prev
      ? {
          unetCalls: prev.unetCalls + e.unetCalls,
          unetSamples: prev.unetSamples + e.unetSamples,
          controlnetCalls: prev.controlnetCalls + e.controlnetCalls,
          controlnetSamples: prev.controlnetSamples + e.controlnetSamples,
          textEncodings: prev.textEncodings + e.textEncodings,
          vaeCalls: prev.vaeCalls + e.vaeCalls,
        }
      : e;
  }
  return out;
}

/** Protocol phases computed by this run, ascending (a resumed run lists only what it computed). */
export function phasesComputed(result: PipelineResult): number[] {
  return [...new Set(result.phases.map((p) => protocolPhase(p.id)))].sort((a, b) => a - b);
}

const ms = (v: number) => Math.max(0, Math.round(v * 10) / 10);

/** Timings in milliseconds: the run, its model and own time, each phase, and what the engine spent around it. */
export function timings(
  result: PipelineResult,
  around: { inputsMs: number; uploadMs: number },
): Record<string, number> {
  const t: Record<string, number> = {
    pipeline: ms(result.timings.totalMs),
    model: ms(result.timings.modelMs),
    pipelineOwn: ms(result.timings.pipelineMs),
    pipelinePerStep: ms(result.timings.pipelineMsPerStep),
    inputs: ms(around.inputsMs),
    upload: ms(around.uploadMs),
  };
  for (const p of result.phases) {
    const key = `phase${protocolPhase(p.id)}`;
    t[key] = ms((t[key] ?? 0) + p.timings.totalMs);
  }
  t.total = ms(result.timings.totalMs + around.inputsMs + around.uploadMs);
  return t;
}

export function outcomeOf(result: PipelineResult, around: { inputsMs: number; uploadMs: number }): JobOutcome {
  return {
    width: result.image.width,
    height: result.image.height,
    phasesComputed: phasesComputed(result),
    modelEvaluations: modelEvaluations(result.modelCalls.byPhase),
    timingsMs: timings(result, around),
    warnings: [...result.warnings],
  };
}
