/**
 * The job state machine as pure functions: each takes a (cloned) state, changes it, and returns the side effects the
 * JobDO must perform afterwards (billing, cache writes, lease, re-dispatch). Keeping the rules free of I/O makes the
 * money-relevant ones (capture once, release on failure, partial capture on cancel) easy to test exhaustively.
 *
 *   queued --accepted(position 0)/progress--> running --completed--> succeeded       (capture the quote)
 *      |                             |----failed(final)--> failed        (release)
 *      |                             |----failed(retryable) / cancelled by the runner / runner dead --> queued,
 *      |                             |        attempt+1 (resume from the deepest phase it has)
 *      `-------- cancel (user) ------'--> cancelled                      (capture the completed phases, or release)
 */
import {
  type FailureCode,
  failureCodeOf,
  quote,
  type RenderPhases,
  type RunnerEvent,
  renderPhases,
} from "@accdiff/shared";
import { type ArtifactRef, isFinished, type JobState } from "../domain/job";

export type Effect =
  | { type: "capture"; amount: number }
  | { type: "release" }
  /**
   * Write the cache record of this phase (1: phase-1 record; k: phase-k pointer) from the job's artifacts;
   * `refinement`: the phase-1 pointer of an image's scale-1 refinement (cache/keys.ts refinesPhase1).
   */
  | { type: "writeCache"; phase: number; refinement?: boolean }
  /** Push the lease deadline forward: the runner is alive. */
  | { type: "renewLease" }
  /** Dispatch attempt+1, resuming from the deepest phase the job has. */
  | { type: "redispatch" }
  /** Tell the backend to stop the attempt (best effort). */
  | { type: "cancelRemote"; target: string | null; attempt: number }
  | { type: "clearAlarm" };

/**
 * What a transition's effects mean for the job's single alarm: its new purpose and time (`at` undefined: keep the one
 * set; null: none), and whether billing must be settled. The last alarm effect wins. `dispatchDelayMs` delays a
 * re-dispatch's alarm when the caller dispatches itself (the alarm is then only a watchdog).
 */
export function alarmPlan(effects: Effect[], now: number, leaseMs: number, dispatchDelayMs = 0) {
  let alarm: JobState["alarm"] | undefined;
  let at: number | null | undefined;
  let settle = false;
  for (const e of effects) {
    if (e.type === "renewLease") [alarm, at] = ["lease", now + leaseMs];
    else if (e.type === "redispatch") [alarm, at] = ["dispatch", now + dispatchDelayMs];
    else if (e.type === "clearAlarm") [alarm, at] = [null, null];
    else if (e.type === "capture" || e.type === "release") settle = true;
  }
  return { alarm, at, settle };
}

/** A runner's `artifact` event after the JobDO checked the upload (size and hash) in R2. */
export type VerifiedArtifact = Extract<RunnerEvent, { type: "artifact" }> & { r2Key: string };

const PHASE1_KINDS = ["lowres_image", "lowres_latents", "attention_maps", "tokens"] as const;

function addUnique(list: number[], v: number): void {
  if (!list.includes(v)) {
    list.push(v);
    list.sort((a, b) => a - b);
  }
}

function lastScale(s: JobState): number {
  return s.scales[s.scales.length - 1];
}

/** The marker in `cacheWritten` of a cache record, so that each is written once. */
export function cacheMarker(e: { phase: number; refinement?: boolean }): string {
  return e.refinement ? "refinement:1" : `phase:${e.phase}`;
}

/** Phase 1 of this job is an image's encoding followed by a refinement (whose image is phase 1's result). */
function refines(s: JobState): boolean {
  return renderOf(s).refinesPhase1;
}

/** The render's phases and sizes as accepted (recomputed for states stored before they were kept). */
export function renderOf(s: JobState): RenderPhases {
  return s.render ?? renderPhases(s.params, s.baseResolution);
}

/** The phase an artifact's image completes, if any. */
function phaseCompletedBy(s: JobState, a: Pick<ArtifactRef, "kind" | "phase">): number | null {
  if (a.kind === "lowres_image") return refines(s) ? null : 1;
  if (a.kind === "phase_image" && a.phase !== null) return a.phase;
  if (a.kind === "final_image") return lastScale(s);
  return null;
}

function has(s: JobState, kind: ArtifactRef["kind"], phase: number | null, source?: ArtifactRef["source"]): boolean {
  return s.artifacts.some((a) => a.kind === kind && a.phase === phase && (source === undefined || a.source === source));
}

/** Adds (or replaces: a re-dispatch may upload the same artifact again) an artifact. */
export function putArtifact(s: JobState, a: ArtifactRef): void {
  const i = s.artifacts.findIndex((x) => x.kind === a.kind && x.phase === a.phase && x.contentType === a.contentType);
  if (i >= 0) s.artifacts[i] = a;
  else s.artifacts.push(a);
  const p = phaseCompletedBy(s, a);
  if (p !== null) addUnique(s.phasesDone, p);
}

function finish(s: JobState, status: "succeeded" | "failed" | "cancelled", now: number): void {
  s.status = status;
  s.finishedAt = now;
  s.alarm = null;
  s.progress = status === "succeeded" && s.progress ? { ...s.progress, percent: 100 } : s.progress;
}

/** Phases this job computed itself and finished (cache-served ones excluded). */
export function computedPhasesDone(s: JobState): number[] {
  return s.phasesDone.filter((p) => !s.cachedAtStart.includes(p));
}

/**
 * What a job that stops early owes: the phases it completed (computed ones at the computed rate, cached ones at the
 * cached rate), or nothing when it computed nothing.
 */
export function partialPrice(s: JobState): number {
  if (computedPhasesDone(s).length === 0) return 0;
  return quote(renderOf(s), s.cachedAtStart, s.phasesDone).price;
}

function settle(s: JobState, amount: number): Effect[] {
  if (s.billing.state !== "reserved") return [];
  if (amount > 0) {
    s.billing = { ...s.billing, state: "captured", charged: amount };
    return [{ type: "capture", amount }];
  }
  s.billing = { ...s.billing, state: "released", charged: 0 };
  return [{ type: "release" }];
}

function fail(s: JobState, reason: string, retryable: boolean, now: number, code: FailureCode): Effect[] {
  s.error = { reason, retryable, code };
  finish(s, "failed", now);
  return [...settle(s, 0), { type: "clearAlarm" }];
}

/**
 * Starts the next attempt after a runner died (lease expired) or gave a retryable failure; fails the job when the
 * attempts are used up. Returns the effects.
 */
export function retryOrFail(
  s: JobState,
  reason: string,
  now: number,
  maxAttempts: number,
  code: FailureCode = "runner_lost",
): Effect[] {
  if (isFinished(s)) return [];
  const effects: Effect[] = [{ type: "cancelRemote", target: s.dispatch.target, attempt: s.attempt }];
  if (s.attempt >= maxAttempts) {
    return [...effects, ...fail(s, `${reason}; gave up after ${s.attempt} attempts`, true, now, code)];
  }
  s.warnings.push(`attempt ${s.attempt}: ${reason}; re-dispatched`);
  s.attempt += 1;
  s.seq = { attempt: s.attempt, next: 0, pending: {} };
  s.status = "queued";
  s.queuePosition = null;
  s.progress = null;
  s.dispatch = { target: null, tries: 0, lastError: reason };
  return [...effects, { type: "redispatch" }];
}

function artifactEffects(s: JobState, a: ArtifactRef): Effect[] {
  const effects: Effect[] = [];
  if ((PHASE1_KINDS as readonly string[]).includes(a.kind)) {
    if (
      !s.cacheWritten.includes("phase:1") &&
      PHASE1_KINDS.every((k) => has(s, k, k.startsWith("lowres") ? 1 : null))
    ) {
      effects.push({ type: "writeCache", phase: 1 });
    }
  }
  if ((a.kind === "phase_image" || a.kind === "phase_latents") && a.phase === 1 && refines(s) && lastScale(s) > 1) {
    if (
      !s.cacheWritten.includes(cacheMarker({ phase: 1, refinement: true })) &&
      has(s, "phase_image", 1, "computed") &&
      has(s, "phase_latents", 1, "computed")
    ) {
      effects.push({ type: "writeCache", phase: 1, refinement: true });
    }
  }
  if ((a.kind === "phase_image" || a.kind === "phase_latents") && a.phase !== null && a.phase > 1) {
    const k = a.phase;
    // The last phase is written on completion, when every format of the final image is known.
    if (k < lastScale(s) && !s.cacheWritten.includes(`phase:${k}`)) {
      if (has(s, "phase_image", k, "computed") && has(s, "phase_latents", k, "computed")) {
        effects.push({ type: "writeCache", phase: k });
      }
    }
  }
  return effects;
}

/**
 * Normalises artifact phases: the low-res kinds are phase 1; attention maps, tokens and the final image belong to no
 * phase (the final image is the last phase's, whether or not the runner says so).
 */
export function artifactPhase(kind: ArtifactRef["kind"], phase: number | undefined): number | null {
  if (kind === "lowres_image" || kind === "lowres_latents") return 1;
  if (kind === "attention_maps" || kind === "tokens" || kind === "final_image") return null;
  return phase ?? null;
}

/**
 * Applies one in-order event of the current attempt. `artifact` is the verified upload for `artifact` events (null
 * when the upload was missing or did not match: the event is then recorded as a warning and nothing is cached).
 */
export function applyEvent(
  s: JobState,
  e: RunnerEvent,
  now: number,
  opts: { maxAttempts: number; artifact?: VerifiedArtifact | null },
): Effect[] {
  if (isFinished(s)) return [];
  s.updatedAt = now;
  switch (e.type) {
    case "accepted":
      // Runners re-send `accepted` (next seq, current position) while the job waits in their queue: each one is a
      // sign of life. A late one (the runner had started meanwhile) never sends a running job back to "queued".
      if (s.status === "queued") {
        s.queuePosition = e.queuePosition === 0 ? null : e.queuePosition;
        if (e.queuePosition === 0) s.status = "running";
      }
      return [{ type: "renewLease" }];
    case "progress":
      s.status = "running";
      s.queuePosition = null;
      s.progress = { phase: e.phase, step: e.step, steps: e.steps, percent: e.percent, etaMs: e.etaMs };
      return [{ type: "renewLease" }];
    case "artifact": {
      s.status = "running";
      s.queuePosition = null;
      const v = opts.artifact;
      if (!v) {
        s.warnings.push(`artifact ${e.key} was announced but its upload is missing or does not match`);
        return [{ type: "renewLease" }];
      }
      const ref: ArtifactRef = {
        kind: e.kind,
        phase: artifactPhase(e.kind, e.phase),
        r2Key: v.r2Key,
        contentType: e.contentType,
        bytes: e.bytes,
        sha256: e.sha256,
        width: e.width,
        height: e.height,
        meta: e.meta,
        source: "computed",
        attempt: e.attempt,
      };
      putArtifact(s, ref);
      return [{ type: "renewLease" }, ...artifactEffects(s, ref)];
    }
    case "completed": {
      const S = lastScale(s);
      if (!has(s, "final_image", null) && !has(s, "phase_image", S)) {
        return fail(s, "the runner reported completion without a final image", false, now, "internal");
      }
      addUnique(s.phasesDone, S);
      s.result = {
        width: e.width,
        height: e.height,
        phasesComputed: e.phasesComputed,
        modelEvaluations: e.modelEvaluations,
        timingsMs: e.timingsMs,
      };
      for (const w of e.warnings) s.warnings.push(w);
      finish(s, "succeeded", now);
      const effects: Effect[] = [...settle(s, s.quote.price), { type: "clearAlarm" }];
      const last = { phase: S, refinement: S === 1 && refines(s) };
      if ((S > 1 || last.refinement) && !s.cacheWritten.includes(cacheMarker(last))) {
        effects.push({ type: "writeCache", ...last });
      }
      return effects;
    }
    case "failed":
      if (e.retryable) {
        return retryOrFail(s, `runner failed: ${e.reason}`, now, opts.maxAttempts, e.code ?? failureCodeOf(e.reason));
      }
      return fail(s, e.reason, false, now, e.code ?? failureCodeOf(e.reason));
    case "cancelled":
      // Never the user's cancel: that one ends the job at once (cancelByUser), so no event reaches a cancelled job.
      // The runner stopped this attempt on its own (an operator, or a cancel meant for another attempt that a runner
      // without attempt checks applied): the user asked for nothing, so the job goes on with the next attempt.
      return retryOrFail(
        s,
        `the runner stopped attempt ${e.attempt} without the user asking`,
        now,
        opts.maxAttempts,
        "cancelled_by_runner",
      );
  }
}

/** A user's cancel: final at once (the client stops paying now), the runner is told to stop. */
export function cancelByUser(s: JobState, now: number): Effect[] {
  if (isFinished(s)) return [];
  s.updatedAt = now;
  finish(s, "cancelled", now);
  return [
    ...settle(s, partialPrice(s)),
    { type: "cancelRemote", target: s.dispatch.target, attempt: s.attempt },
    { type: "clearAlarm" },
  ];
}

/** Dispatch tries used up (no runner would take the job): the job fails, nothing is charged. */
export function dispatchGaveUp(s: JobState, reason: string, now: number): Effect[] {
  if (isFinished(s)) return [];
  return fail(s, `no runner accepted the job: ${reason}`, true, now, "no_runner");
}
