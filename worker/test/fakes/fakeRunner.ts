/**
 * A fake runner pool on loopback (Node side of the tests), speaking the real protocol: it verifies the worker's
 * signed RunnerJob, downloads the resume artifacts and input image through the signed links, uploads artifacts with
 * signed PUTs and posts signed, numbered events to the job's callback URL — the worker's real HTTP endpoint, which
 * the test runtime exposes on a loopback port (see vitest.config.ts). Nothing is computed: images are small
 * gradients of each phase's true size, latents are deterministic bytes.
 *
 * Each pool member is a path prefix `/r/<name>`. Tests choose the behaviour per prompt (`/_control/scenario`):
 * refuse on some runners, go silent, fail, hold before a phase (for cancellation), or deliver events reversed,
 * shuffled or duplicated.
 */
import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  phaseScales,
  phaseSize,
  type RunnerEvent,
  type RunnerJob,
  RunnerJobSchema,
  requestPlan,
  signRequest,
  UNKNOWN_ATTEMPT_TYPE,
  verifyRequest,
} from "@accdiff/shared";
import { makePng } from "./png";
import { TEST_BASE_RESOLUTION, TEST_SECRETS } from "./secrets";

export interface AttemptPlan {
  mode: "complete" | "silent" | "fail" | "hold";
  /** silent / fail / hold: after finishing this phase (0: before phase 1). */
  afterPhase?: number;
  retryable?: boolean;
  delivery?: "inorder" | "reversed" | "shuffled" | "duplicated";
  /** The queue position of the first `accepted` event (default 0: starts at once). */
  queuePosition?: number;
}

/** How a runner answers the worker's liveness probe (GET /v1/jobs/:id/attempts/:n); default: the truth. */
export type ProbeAnswer = "reset" | "unknown-attempt" | "hang";

export interface Scenario {
  /** Runner name -> how it answers probes (reset: the connection is dropped, as by a dead host). */
  probe?: Record<string, ProbeAnswer>;
  /** Runner name -> HTTP status it answers every dispatch with. */
  refuse?: Record<string, number>;
  /** Runner name -> ms it takes to answer a dispatch it has already taken and started (a lost or late answer). */
  slowAccept?: Record<string, number>;
  /** Attempt number -> plan (default: complete, in order). */
  attempts?: Record<string, AttemptPlan>;
}

export interface ReceivedJob {
  runner: string;
  job: RunnerJob;
  receivedAt: number;
  resumeDownloads: Record<string, number>;
  imageDownload: number | null;
  deliveries: { type: string; seq: number; status: number; ms: number }[];
  uploads: { key: string; status: number; ms: number }[];
  finished: boolean;
}

type Json = Record<string, unknown>;

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

const PROBLEM = { "content-type": "application/problem+json" };

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

function bytesFor(label: string, n: number): Buffer {
  const out = Buffer.alloc(n);
  let h = createHash("sha256").update(label).digest();
  for (let o = 0; o < n; o += h.length) {
    h.copy(out, o);
    h = createHash("sha256").update(h).digest();
  }
  return out;
}

export class FakeRunnerPool {
  private scenarios = new Map<string, Scenario>();
  readonly received: ReceivedJob[] = [];
  readonly cancels: { runner: string; jobId: string; attempt: number; status: number; at: number }[] = [];
  readonly probes: { runner: string; jobId: string; attempt: number; at: number }[] = [];
  readonly refusals: { runner: string; jobId: string; attempt: number; status: number; prompt: string }[] = [];
  private holds = new Map<string, () => void>();

  async handle(req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer): Promise<boolean> {
    if (url.pathname === "/_control/scenario" && req.method === "POST") {
      const { prompt, scenario } = JSON.parse(body.toString()) as { prompt: string; scenario: Scenario };
      this.scenarios.set(prompt, scenario);
      send(res, 200, { ok: true });
      return true;
    }
    if (url.pathname === "/_control/jobs" && req.method === "GET") {
      const prompt = url.searchParams.get("prompt");
      const jobId = url.searchParams.get("jobId");
      const jobs = this.received.filter(
        (r) => (!prompt || r.job.params.prompt === prompt) && (!jobId || r.job.jobId === jobId),
      );
      const mine = (c: { jobId: string }) => jobs.some((j) => j.job.jobId === c.jobId);
      const cancels = this.cancels.filter(mine);
      const probes = this.probes.filter(mine);
      const refusals = this.refusals.filter((r) => (!prompt || r.prompt === prompt) && (!jobId || r.jobId === jobId));
      send(res, 200, { jobs, cancels, probes, refusals });
      return true;
    }
    if (url.pathname === "/_control/release" && req.method === "POST") {
      const key = url.searchParams.get("jobId") ?? "";
      const release = this.holds.get(key);
      this.holds.delete(key);
      release?.();
      send(res, 200, { released: Boolean(release) });
      return true;
    }
    const m = /^\/r\/([a-z0-9]+)\/v1\/jobs(?:\/([^/]+)\/attempts\/(\d+)(\/cancel)?)?$/.exec(url.pathname);
    if (!m) return false;
    const [, runner, opId, opAttempt, cancel] = m;
    const probe = Boolean(opId) && !cancel;
    if (req.method !== (probe ? "GET" : "POST")) return false;
    const check = await verifyRequest(
      TEST_SECRETS.RUNNER_SECRET,
      { method: req.method, path: url.pathname + url.search, body, headers: req.headers as Record<string, string> },
      // Lease tests move the worker's clock by minutes (fake Date) and then let it probe or cancel: those are judged
      // by their signature alone. A job dispatched at a faked time is still refused.
      opId ? { windowSeconds: 7 * 86_400 } : {},
    );
    if (!check.ok) {
      send(res, 401, { title: "Unauthorized", detail: check.reason });
      return true;
    }
    if (opId) {
      const attempt = Number(opAttempt);
      // Like a real runner, it holds one attempt of a job: the last one it received.
      const held = this.received.filter((r) => r.runner === runner && r.job.jobId === opId).at(-1);
      const holds = held?.job.attempt === attempt;
      const unknown = () =>
        send(res, 404, { type: UNKNOWN_ATTEMPT_TYPE, title: "Unknown attempt", status: 404 }, PROBLEM);
      if (cancel) {
        this.cancels.push({ runner, jobId: opId, attempt, status: holds ? 202 : 404, at: Date.now() });
        if (holds) {
          this.holds.get(opId)?.();
          send(res, 202, { ok: true });
        } else unknown();
        return true;
      }
      this.probes.push({ runner, jobId: opId, attempt, at: Date.now() });
      const answer = held ? this.scenarios.get(held.job.params.prompt)?.probe?.[runner] : undefined;
      if (answer === "reset") {
        req.socket.resetAndDestroy();
        return true;
      }
      if (answer === "hang") return true;
      if (answer === "unknown-attempt" || !held || !holds) unknown();
      else send(res, 200, { jobId: opId, attempt, status: held.finished ? "succeeded" : "running" });
      return true;
    }
    if (req.method !== "POST") return false;
    const parsed = RunnerJobSchema.safeParse(JSON.parse(body.toString()));
    if (!parsed.success) {
      send(res, 422, { title: "Validation failed", detail: parsed.error.message });
      return true;
    }
    const job = parsed.data;
    const scenario = this.scenarios.get(job.params.prompt) ?? {};
    const refuse = scenario.refuse?.[runner];
    if (refuse) {
      this.refusals.push({ runner, jobId: job.jobId, attempt: job.attempt, status: refuse, prompt: job.params.prompt });
      send(res, refuse, { title: "busy" }, refuse === 429 ? { "retry-after": "0" } : {});
      return true;
    }
    const dup = this.received.find((r) => r.job.jobId === job.jobId && r.job.attempt === job.attempt);
    const delay = scenario.slowAccept?.[runner];
    if (delay) {
      // By then the worker has given up on this answer (its connection is gone): writing to it is a no-op.
      setTimeout(() => {
        if (!res.destroyed) send(res, 202, { accepted: true, duplicate: Boolean(dup) });
      }, delay);
    } else send(res, 202, { accepted: true, duplicate: Boolean(dup) });
    if (dup) return true;
    const rec: ReceivedJob = {
      runner,
      job,
      receivedAt: Date.now(),
      resumeDownloads: {},
      imageDownload: null,
      deliveries: [],
      uploads: [],
      finished: false,
    };
    this.received.push(rec);
    const plan = scenario.attempts?.[String(job.attempt)] ?? { mode: "complete" };
    setImmediate(() => {
      this.run(rec, plan).catch((err) => console.error("fake runner:", err));
    });
    return true;
  }

  private async post(url: string, method: string, body: Uint8Array | string, contentType: string): Promise<number> {
    const path = new URL(url).pathname;
    for (let i = 0; i < 4; i++) {
      try {
        const headers = await signRequest(TEST_SECRETS.RUNNER_SECRET, { method, path, body });
        const res = await fetch(url, { method, body, headers: { ...headers, "content-type": contentType } });
        await res.arrayBuffer();
        if (res.status < 500) return res.status;
      } catch {
        // retried below
      }
      await new Promise((r) => setTimeout(r, 50 * (i + 1)));
    }
    return 0;
  }

  private async run(rec: ReceivedJob, plan: AttemptPlan): Promise<void> {
    const { job } = rec;
    const queue: RunnerEvent[] = [];
    let seq = 0;
    const at = () => new Date().toISOString();
    const base = { jobId: job.jobId, attempt: job.attempt };
    const deliver = async (e: RunnerEvent) => {
      const t0 = performance.now();
      const status = await this.post(job.callbackUrl, "POST", JSON.stringify(e), "application/json");
      rec.deliveries.push({ type: e.type, seq: e.seq, status, ms: Math.round(performance.now() - t0) });
    };
    const ordered = (plan.delivery ?? "inorder") === "inorder" || plan.mode !== "complete";
    const emit = async (e: Omit<RunnerEvent, "jobId" | "attempt" | "seq" | "at">) => {
      const ev = { ...base, seq: seq++, at: at(), ...e } as RunnerEvent;
      if (ordered) await deliver(ev);
      else queue.push(ev);
    };
    const upload = async (kind: string, name: string, bytes: Uint8Array, contentType: string, extra: Json = {}) => {
      const key = `${kind}/${name}`;
      const t0 = performance.now();
      const status = await this.post(`${job.uploadUrl}/${key}`, "PUT", bytes, contentType);
      rec.uploads.push({ key, status, ms: Math.round(performance.now() - t0) });
      await emit({
        type: "artifact",
        kind,
        key,
        contentType,
        bytes: bytes.byteLength,
        sha256: sha(bytes),
        ...extra,
      } as never);
    };

    if (job.resume) {
      for (const [name, link] of Object.entries(job.resume.artifacts)) {
        const res = await fetch(link);
        await res.arrayBuffer();
        rec.resumeDownloads[name] = res.status;
      }
    }
    if (job.imageUrl) {
      const res = await fetch(job.imageUrl);
      await res.arrayBuffer();
      rec.imageDownload = res.status;
    }

    await emit({ type: "accepted", queuePosition: plan.queuePosition ?? 0 } as never);
    const scales = phaseScales(job.params, TEST_BASE_RESOLUTION);
    const refines =
      job.params.image !== null && requestPlan(job.params, TEST_BASE_RESOLUTION).upscales.some((u) => u.id === 1);
    const last = scales[scales.length - 1];
    // Resumed from phase 1 of an image, the runner has the encoded image and refines it again (phase 1 is redone).
    const start = job.resume ? job.resume.fromPhase + (refines && job.resume.fromPhase === 1 ? 0 : 1) : 1;
    const done: number[] = job.resume ? scales.filter((k) => k < start) : [];
    const label = (what: string, k: number) =>
      `${job.cacheKeys.phase1}:${job.cacheKeys.phases[String(k)] ?? ""}:${what}`;
    for (const k of scales) {
      if (k < start) continue;
      const stopHere = plan.mode !== "complete" && k > (plan.afterPhase ?? 0);
      if (stopHere && plan.mode === "silent") return;
      if (stopHere && plan.mode === "fail") {
        await emit({
          type: "failed",
          reason: "fake failure",
          retryable: plan.retryable ?? false,
          phasesCompleted: done,
        } as never);
        rec.finished = true;
        return;
      }
      if (stopHere && plan.mode === "hold") {
        const cancelled = await new Promise<boolean>((resolve) => {
          this.holds.set(job.jobId, () =>
            resolve(this.cancels.some((c) => c.jobId === job.jobId && c.attempt === job.attempt)),
          );
        });
        if (cancelled) {
          await emit({ type: "cancelled", phasesCompleted: done } as never);
          rec.finished = true;
          return;
        }
        plan = { mode: "complete" };
      }
      const size = phaseSize(job.params, TEST_BASE_RESOLUTION, k);
      for (let step = 1; step <= 2; step++) {
        await emit({
          type: "progress",
          phase: k,
          step,
          steps: 2,
          percent: Math.round(((k - 1 + step / 2) / last) * 100),
        } as never);
      }
      const png = makePng(size.width, size.height, k + job.params.seed);
      const latents = bytesFor(label("latents", k), 4 * (size.width / 8) * (size.height / 8) * 4);
      const dims = { width: size.width, height: size.height };
      if (k === 1) {
        if (!job.resume) {
          await upload("lowres_latents", "lowres.bin", latents, "application/octet-stream", { phase: 1 });
          await upload(
            "attention_maps",
            "attention.bin",
            bytesFor(label("attention", 1), 2048),
            "application/octet-stream",
          );
          await upload("tokens", "tokens.json", Buffer.from(JSON.stringify(["a", "cat", "dog"])), "application/json");
          // From an image, phase 1 is first the encoded image (its VAE round trip).
          const lowres = refines ? makePng(size.width, size.height, 1000 + job.params.seed) : png;
          await upload("lowres_image", "lowres.png", lowres, "image/png", { phase: 1, ...dims });
        }
        if (refines) {
          // Then its scale-1 refinement, whose image is phase 1's result (and the final image at 1x), as the real
          // runner reports them.
          const refined = bytesFor(label("refined latents", 1), latents.length);
          await upload("phase_image", "phase-1.png", png, "image/png", { phase: 1, ...dims });
          await upload("phase_latents", "phase-1.bin", refined, "application/octet-stream", { phase: 1 });
          await upload("canny", "phase-1.png", makePng(size.width, size.height, 98), "image/png", {
            phase: 1,
            ...dims,
          });
        }
      } else {
        const prompts = Buffer.from(
          JSON.stringify({ c: job.params.c, scale: k, prompts: Array(k * k).fill(job.params.prompt) }),
        );
        await upload("patch_prompts", `phase-${k}.json`, prompts, "application/json", {
          phase: k,
          meta: { c: job.params.c, scale: k },
        });
        await upload("canny", `phase-${k}.png`, makePng(size.width, size.height, 99), "image/png", {
          phase: k,
          ...dims,
        });
        await upload("phase_latents", `phase-${k}.bin`, latents, "application/octet-stream", { phase: k });
        await upload("phase_image", `phase-${k}.png`, png, "image/png", { phase: k, ...dims });
      }
      done.push(k);
    }
    await upload(
      "final_image",
      "final.png",
      makePng(job.params.width, job.params.height, last + job.params.seed),
      "image/png",
      {
        width: job.params.width,
        height: job.params.height,
      },
    );
    const computed = scales.filter((k) => k >= start);
    const evals = Object.fromEntries(
      computed.map((k) => [
        `phase-${k}`,
        {
          unetCalls: 2 * k,
          unetSamples: 2 * k * k,
          controlnetCalls: k > 1 ? 2 : 0,
          controlnetSamples: k > 1 ? 2 * k : 0,
          textEncodings: 1,
          vaeCalls: 1,
        },
      ]),
    );
    await emit({
      type: "completed",
      width: job.params.width,
      height: job.params.height,
      phasesComputed: computed,
      modelEvaluations: evals,
      timingsMs: { total: 1 },
      warnings: [],
    } as never);
    rec.finished = true;
    if (!ordered) {
      const order = [...queue];
      if (plan.delivery === "reversed") order.reverse();
      if (plan.delivery === "shuffled") {
        for (let i = order.length - 1; i > 0; i--) {
          const j = (i * 7919 + job.params.seed) % (i + 1);
          [order[i], order[j]] = [order[j], order[i]];
        }
      }
      for (const e of order) {
        await deliver(e);
        if (plan.delivery === "duplicated") await deliver(e);
      }
    }
  }
}
