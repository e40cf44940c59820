import { SDXL_SCHEDULER_CONFIG } from "../../models/sdxlScheduler";
import { eulerSchedule, modelInputDivisor, ReferenceStepIndex } from "../../pipeline/scheduler";
import { expectClose, expectExact } from "../compare";
import type { GoldenCase, TopicRunner } from "../types";

const SDXL_SCHEDULER = { ...SDXL_SCHEDULER_CONFIG };

/**
 * scheduler_call_sequence: drives ReferenceStepIndex through the reference's call order (an optional
 * completed plain phase, then an upscaling phase with L view batches and D dilated batches per step)
 * and records which sigma index each scale_model_input and step() reads.
 */
const run: TopicRunner = (c: GoldenCase) => {
  const inp = c.inputs;
  const n = Number(inp.num_inference_steps);
  const batches = Number(inp.local_view_batches_per_step) + Number(inp.dilated_batches_per_step);
  const sched = eulerSchedule({ ...SDXL_SCHEDULER }, n);
  const ref = new ReferenceStepIndex(sched.timesteps);

  if (inp.previous_phase_completed) {
    // A plain denoising loop (phase 1 or a previous upscaling phase): scale, step, no re-init.
    for (let i = 0; i < n; i++) {
      const t = sched.timesteps[i];
      ref.scaleSigmaIndex(t);
      ref.stepSigmaIndex(t);
      ref.afterStep();
    }
  }

  const scaleIdx: number[][] = [];
  const stepIdx: number[][] = [];
  for (let i = 0; i < n; i++) {
    const t = sched.timesteps[i];
    const s: number[] = [];
    const st: number[] = [];
    for (let b = 0; b < batches; b++) {
      s.push(ref.scaleSigmaIndex(t));
      ref.initStepIndex(t);
      st.push(ref.stepSigmaIndex(t));
      ref.afterStep();
    }
    scaleIdx.push(s);
    stepIdx.push(st);
  }
  expectExact("scale_model_input_sigma_index", scaleIdx, c.expected.scale_model_input_sigma_index);
  expectExact("step_sigma_index", stepIdx, c.expected.step_sigma_index);
  expectExact("step_index_after_phase", ref.current, c.expected.step_index_after_phase);
  const divisors = scaleIdx.flat().map((k) => modelInputDivisor(sched.sigmas[k]));
  expectClose("scale_model_input_divisor", divisors, c.expected.scale_model_input_divisor.flat(), c.tolerance);
};

export default run;
