/**
 * The runner protocol: the worker sends a `RunnerJob`, the runner answers with `RunnerEvent`s posted to the job's
 * callback URL. Every event carries (jobId, attempt, seq): seq increases by one per event within an attempt, so a
 * receiver applies each event once and in order, and ignores duplicates and events of superseded attempts.
 */
import { z } from "zod";
import { ResolvedRequestSchema } from "./request";

export const ARTIFACT_KINDS = [
  "lowres_image",
  "lowres_latents",
  "attention_maps",
  "tokens",
  "patch_prompts",
  "phase_image",
  "phase_latents",
  "canny",
  "final_image",
] as const;
export type ArtifactKind = (typeof ARTIFACT_KINDS)[number];

const JobId = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, "must be 8-64 characters of [A-Za-z0-9_-]");
const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);

/**
 * Where the runner should start from: cached artifacts of earlier phases. Each is a URL the runner can GET (the worker
 * gives short-lived signed links) or a key relative to the job's uploadUrl.
 */
export const ResumeSchema = z.strictObject({
  /** The deepest completed phase (scale) whose artifacts are given; the runner computes the phases after it. */
  fromPhase: z.number().int().min(1),
  artifacts: z.strictObject({
    /** Latents of `fromPhase` (phase 1: not renormalised). */
    latents: z.string(),
    /** Decoded image of `fromPhase` (the ControlNet condition of the next phase is its canny). */
    image: z.string(),
    /** Aggregated phase-1 attention maps and tokens (to derive patch prompts, possibly for another c). */
    attentionMaps: z.string(),
    tokens: z.string(),
    /** Phase-1 latents (renormalisation anchors: mean and unbiased std). */
    lowresLatents: z.string(),
  }),
});
export type Resume = z.infer<typeof ResumeSchema>;

export const RunnerJobSchema = z.strictObject({
  jobId: JobId,
  /** 1 for the first dispatch; re-dispatches increment it. Events of an older attempt are ignored. */
  attempt: z.number().int().min(1).max(100),
  bundleId: z.string().min(1).max(128),
  params: ResolvedRequestSchema,
  /** Runner events are POSTed (signed) here. */
  callbackUrl: z.url(),
  /** Artifacts are PUT (signed) to `${uploadUrl}/${kind}/${name}`. */
  uploadUrl: z.url(),
  /** Download URL of the user's image when params.image is set. */
  imageUrl: z.url().optional(),
  resume: ResumeSchema.optional(),
  /** Cache keys of phase 1 and of each upscaling phase, echoed in artifact metadata. */
  cacheKeys: z.strictObject({ phase1: Sha256, phases: z.record(z.string(), Sha256) }),
  /**
   * The longest the runner may stay silent about this attempt (keep-alives): the worker probes a runner that misses
   * two of them, so it must be what the worker expects. Absent: the runner's own default.
   */
  heartbeatMs: z.number().int().min(100).max(600_000).optional(),
});
export type RunnerJob = z.infer<typeof RunnerJobSchema>;

const EventBase = {
  jobId: JobId,
  attempt: z.number().int().min(1),
  seq: z.number().int().min(0),
  /** ISO 8601 time the runner emitted the event. */
  at: z.iso.datetime(),
};

export const ModelEvaluationsSchema = z.record(
  z.string(),
  z.strictObject({
    unetCalls: z.number().int(),
    unetSamples: z.number().int(),
    controlnetCalls: z.number().int(),
    controlnetSamples: z.number().int(),
    textEncodings: z.number().int(),
    vaeCalls: z.number().int(),
  }),
);

export const RunnerEventSchema = z.discriminatedUnion("type", [
  z.strictObject({ ...EventBase, type: z.literal("accepted"), queuePosition: z.number().int().min(0) }),
  z.strictObject({
    ...EventBase,
    type: z.literal("progress"),
    phase: z.number().int().min(1),
    step: z.number().int().min(0),
    steps: z.number().int().min(1),
    percent: z.number().min(0).max(100),
    etaMs: z.number().min(0).optional(),
  }),
  z.strictObject({
    ...EventBase,
    type: z.literal("artifact"),
    kind: z.enum(ARTIFACT_KINDS),
    phase: z.number().int().min(1).optional(),
    /** Where the runner uploaded it (relative to the job's uploadUrl). */
    key: z.string().min(1).max(512),
    contentType: z.string().min(1).max(128),
    bytes: z.number().int().min(0),
    sha256: Sha256,
    width: z.number().int().positive().optional(),
    height: z.number().int().positive().optional(),
    meta: z.record(z.string(), z.unknown()).optional(),
  }),
  z.strictObject({
    ...EventBase,
    type: z.literal("completed"),
    width: z.number().int().positive(),
    height: z.number().int().positive(),
    /** Phases computed by this attempt (those served from cache are not listed). */
    phasesComputed: z.array(z.number().int().min(1)),
    modelEvaluations: ModelEvaluationsSchema,
    timingsMs: z.record(z.string(), z.number().min(0)),
    warnings: z.array(z.string()),
  }),
  z.strictObject({
    ...EventBase,
    type: z.literal("failed"),
    reason: z.string().max(2000),
    /** True when another attempt may succeed (runner shutdown, out of memory, transient I/O). */
    retryable: z.boolean(),
    phasesCompleted: z.array(z.number().int().min(1)).optional(),
  }),
  z.strictObject({ ...EventBase, type: z.literal("cancelled"), phasesCompleted: z.array(z.number().int().min(1)) }),
]);
export type RunnerEvent = z.infer<typeof RunnerEventSchema>;
export type RunnerEventType = RunnerEvent["type"];

export function isTerminal(e: Pick<RunnerEvent, "type">): boolean {
  return e.type === "completed" || e.type === "failed" || e.type === "cancelled";
}

/** Public job states (the worker's API). */
export const JOB_STATUSES = ["queued", "running", "succeeded", "failed", "cancelled"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
