/**
 * Golden topic `pipeline_trajectory`: the whole AccDiffusion v2 `__call__` over the closed-form fake models, run by
 * the real `runAccDiffusion` in referenceCompat mode with every random draw of the reference injected (phase-1 noise,
 * per-phase noise, the Python randint sequence of the window jitter, the window-interaction permutations and the
 * attention store). Checks every step's latents, each phase's output, the anchor statistics, the canny results, the
 * patch prompts and windows, and the model-call pattern.
 *
 * Text encoder calls: the pipeline encodes each unique text once per job, while the reference calls encode_prompt
 * once for the prompt and once per window per step with patch prompts. The pipeline counts both: the golden's
 * `encode_prompt_calls` is compared with `referenceEncodePromptCalls` (where the reference would have called), and we
 * also check that the encoder really ran once per distinct text. UNet and ControlNet calls and batch sizes are
 * compared exactly.
 */
import type { Tensor } from "../../models/types";
import { runAccDiffusion } from "../../pipeline/accdiffusion";
import type { AttentionStoreSnapshot } from "../../pipeline/attention";
import type { PipelineRequest } from "../../pipeline/params";
import { eulerSchedule, schedulerConfigFromDiffusers } from "../../pipeline/scheduler";
import { expectClose, expectExact, Mismatch, readF32 } from "../compare";
import { FakeModels } from "../fakeModels";
import { injectRecordedDraws, type RecordedRandInt } from "../replay";
import type { GoldenTensor, TopicRunner } from "../types";

function readStore(raw: { cur_step: number; layers: Record<string, GoldenTensor[]> }): AttentionStoreSnapshot {
  const layers: Record<string, Tensor[]> = {};
  for (const [key, items] of Object.entries(raw.layers)) {
    layers[key] = items.map((t) => ({ data: readF32(t), shape: t.shape }));
  }
  return { curStep: raw.cur_step, layers };
}

const runner: TopicRunner = async (c) => {
  const i = c.inputs;
  const e = c.expected;
  const tol = c.tolerance;
  const config = schedulerConfigFromDiffusers(i.scheduler_config);
  // Our schedule must be the reference's float32 schedule exactly (the semantics warn that float64 builds drift).
  const schedule = eulerSchedule(config, i.num_inference_steps);
  expectExact("scheduler_timesteps", schedule.timesteps, Array.from(readF32(i.scheduler_timesteps)));
  expectExact("scheduler_sigmas", schedule.sigmas, Array.from(readF32(i.scheduler_sigmas)));
  expectExact("init_noise_sigma", Math.fround(schedule.initNoiseSigma), Math.fround(i.init_noise_sigma));

  const tok = i.tokenizer as { bos: number; eos: number; vocab: Record<string, number> } | undefined;
  const models = new FakeModels({
    constants: i.fake_model,
    sampleSize: i.sample_size,
    scheduler: config,
    vocab: tok?.vocab,
    bos: tok?.bos,
    eos: tok?.eos,
  });
  const request: PipelineRequest = {
    prompt: i.prompt,
    negativePrompt: i.negative_prompt,
    width: i.width,
    height: i.height,
    steps: i.num_inference_steps,
    guidanceScale: i.guidance_scale,
    multiGuidanceScale: i.multi_guidance_scale,
    cosineScale1: i.cosine_scale_1,
    cosineScale2: i.cosine_scale_2,
    cosineScale3: i.cosine_scale_3,
    sigma: i.sigma,
    window: i.sample_size,
    stride: i.stride,
    viewBatchSize: i.view_batch_size,
    patchThreshold: i.c,
    cannySigma: i.canny_sigma,
    controlnetConditioningScale: i.controlnet_conditioning_scale,
    controlGuidanceStart: i.control_guidance_start,
    controlGuidanceEnd: i.control_guidance_end,
    useGaussian: i.use_guassian,
    useMultiDiffusion: i.use_multidiffusion,
    useDilatedSampling: i.use_dilated_sampling,
    useSkipResidual: i.use_skip_residual,
    useProgressiveUpscaling: i.use_progressive_upscaling,
    shuffle: i.shuffle,
    usePatchPrompts: i.use_md_prompt,
    useControlNet: i.use_controlnet,
    referenceCompat: true,
  };
  const inject = injectRecordedDraws({
    initialNoise: readF32(i.initial_noise),
    phaseNoise: (phase) => {
      const t = i.phase_noise[String(phase)];
      return t ? readF32(t) : undefined;
    },
    randintCalls: i.randint_calls as RecordedRandInt[],
    shufflePerm: (phase, step, batch) => i.shuffle_perms[String(phase)]?.[step]?.[batch],
    attentionStore: i.attention_store ? readStore(i.attention_store) : undefined,
  });
  const steps = new Map<number, Float32Array[]>();
  const result = await runAccDiffusion(models, request, {
    embeddingCache: null,
    onStep: (phase, _step, latents) => {
      const list = steps.get(phase) ?? [];
      list.push(Float32Array.from(latents.data));
      steps.set(phase, list);
    },
    inject,
  });
  inject.assertConsumed();

  // Trajectories and phase outputs.
  const expectedPhases = Object.keys(e.phases).map(Number);
  expectExact(
    "phases",
    result.phases.map((p) => p.id),
    expectedPhases,
  );
  for (const ph of result.phases) {
    const ex = e.phases[String(ph.id)];
    const C = models.info.latentChannels;
    const shape = [1, C, ph.spec.latentHeight, ph.spec.latentWidth];
    expectExact(`phases.${ph.id}.latent_shape`, shape, ex.latent_shape);
    const got = steps.get(ph.id) ?? [];
    expectExact(`phases.${ph.id}.steps`, got.length, ex.step_latents.length);
    for (let s = 0; s < got.length; s++) {
      expectClose(`phases.${ph.id}.step_latents[${s}]`, got[s], ex.step_latents[s], tol, shape);
    }
    expectClose(`phases.${ph.id}.final_latents`, ph.latents, ex.final_latents, tol, shape);
  }
  expectClose("anchor_mean", [result.anchor.mean], [Number(e.anchor_mean)], tol);
  expectClose("anchor_std_unbiased", [result.anchor.std], [Number(e.anchor_std_unbiased)], tol);

  // Model calls.
  for (const [key, ex] of Object.entries(e.model_calls) as [string, Record<string, unknown>][]) {
    if (key === "total") continue;
    const calls = result.modelCalls.byPhase[Number(key)];
    if (!calls) throw new Mismatch(`model_calls.${key}: phase made no calls`);
    expectExact(`model_calls.${key}.unet_batch_sizes`, calls.unetBatchSizes, ex.unet_batch_sizes);
    expectExact(`model_calls.${key}.controlnet_batch_sizes`, calls.controlnetBatchSizes, ex.controlnet_batch_sizes);
    expectExact(`model_calls.${key}.encode_prompt_calls`, calls.referenceEncodePromptCalls, ex.encode_prompt_calls);
  }
  const t = result.modelCalls.total;
  const et = e.model_calls.total;
  expectExact("model_calls.total.unet_calls", t.unetCalls, et.unet_calls);
  expectExact("model_calls.total.unet_samples", t.unetSamples, et.unet_samples);
  expectExact("model_calls.total.controlnet_calls", t.controlnetCalls, et.controlnet_calls);
  expectExact("model_calls.total.controlnet_samples", t.controlnetSamples, et.controlnet_samples);
  expectExact("model_calls.total.encode_prompt_calls", t.referenceEncodePromptCalls, et.encode_prompt_calls);
  // What really ran: the encoder once per distinct text (prompt, negative, each distinct patch prompt).
  const distinct = new Set<string>([i.prompt, i.negative_prompt]);
  for (const list of Object.values(result.patchPrompts)) for (const p of list) distinct.add(p);
  expectExact("encode_text_calls (one per distinct text)", t.encodeTextCalls, distinct.size);

  // Canny of every phase's image.
  if (e.canny) {
    for (const [key, ex] of Object.entries(e.canny) as [string, Record<string, unknown>][]) {
      const ph = result.phases.find((p) => p.id === Number(key));
      if (!ph?.canny) throw new Mismatch(`canny.${key}: not computed`);
      expectExact(`canny.${key}.median`, ph.canny.median, ex.median);
      expectExact(`canny.${key}.lower`, ph.canny.lower, ex.lower);
      expectExact(`canny.${key}.upper`, ph.canny.upper, ex.upper);
      expectExact(`canny.${key}.edges`, ph.canny.edges, ex.edges);
    }
  }

  // Patch prompts and their attention-map windows, per scale.
  if (e.patch_prompts) {
    for (const [key, ex] of Object.entries(e.patch_prompts)) {
      expectExact(`patch_prompts.${key}`, result.patchPrompts[Number(key)], ex);
    }
    for (const [key, ex] of Object.entries(e.attention_views)) {
      expectExact(`attention_views.${key}`, result.attentionViews[Number(key)], ex);
    }
  }
};

export default runner;
