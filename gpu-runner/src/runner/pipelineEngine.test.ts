/**
 * The runner service with the REAL pipeline engine on the toy-world bundle, on loopback, driven like the worker
 * drives it: signed jobs in, signed events and artifact uploads out (fakeWorker.ts records them).
 */
import {
  type RunnerEvent,
  type RunnerJob,
  resolveRequest,
  runnerCancelPath,
  sha256Hex,
  signRequest,
} from "@accdiff/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeImage, encodeImage } from "../images/encode";
import { loadOnnxModels, type OnnxModels } from "../models/index";
import type { JobHooks } from "../server/engine";
import { type FakeWorker, startFakeWorker } from "../server/fakeWorker";
import { PermanentHttpError } from "../server/http";
import { silentLogger } from "../server/log";
import { type RunnerService, startRunnerService } from "../server/serve";
import { ensureToyWorld } from "../toyworld/index";
import { decodeNpy } from "./npy";
import { createPipelineEngine } from "./pipelineEngine";

const secret = "pipeline-engine-test-secret";
let models: OnnxModels;
let worker: FakeWorker;
let runner: RunnerService;
let n = 0;

beforeAll(async () => {
  models = await loadOnnxModels(await ensureToyWorld(), { provider: "cpu" });
  worker = await startFakeWorker(secret);
  const engine = createPipelineEngine({ models, provider: models.provider, log: silentLogger });
  runner = await startRunnerService({ engine, secret, log: silentLogger, progressIntervalMs: 20, queueCapacity: 4 });
}, 120_000);

afterAll(async () => {
  await runner?.shutdown();
  await worker?.close();
  await models?.dispose();
});

const PHASE1_KEY = "1".repeat(64);
const PHASE2_KEY = "2".repeat(64);

function makeJob(request: Record<string, unknown>, over: Partial<RunnerJob> = {}): RunnerJob {
  const jobId = `job_engine_${++n}_${Date.now()}`;
  return {
    jobId,
    attempt: 1,
    bundleId: "toy-world",
    params: resolveRequest({ prompt: "a cat and a dog are playing on the lawn", seed: 7, ...request }),
    callbackUrl: `${worker.url}/internal/jobs/${jobId}/events`,
    uploadUrl: `${worker.url}/internal/jobs/${jobId}/artifacts`,
    cacheKeys: { phase1: PHASE1_KEY, phases: { "2": PHASE2_KEY } },
    ...over,
  };
}

async function submit(job: RunnerJob): Promise<Response> {
  const body = JSON.stringify(job);
  const headers = await signRequest(secret, { method: "POST", path: "/v1/jobs", body });
  return fetch(`${runner.url}/v1/jobs`, {
    method: "POST",
    body,
    headers: { ...headers, "content-type": "application/json" },
  });
}

const terminal = (jobId: string) => (e: RunnerEvent) =>
  e.jobId === jobId && (e.type === "completed" || e.type === "failed" || e.type === "cancelled");

const eventsOf = (jobId: string) => worker.events.filter((e) => e.jobId === jobId);
type ArtifactEvent = Extract<RunnerEvent, { type: "artifact" }>;
const artifactsOf = (jobId: string) => eventsOf(jobId).filter((e): e is ArtifactEvent => e.type === "artifact");
const upload = (key: string) => worker.uploads.get(key)!.bytes;

/** Kept from the first test: the uninterrupted run the resumed one must reproduce. */
let first: { job: RunnerJob; final: Uint8Array; phase2Latents: Uint8Array };

describe("runner service with the pipeline engine (toy world, cpu)", () => {
  it("runs a signed 1024x1024 job: ordered events, every artifact, decodable images of the right sizes", async () => {
    const job = makeJob({ width: 1024, height: 1024, steps: 4 });
    expect((await submit(job)).status).toBe(202);
    const end = await worker.waitFor(terminal(job.jobId), 60_000);
    expect(end).toMatchObject({ type: "completed", width: 1024, height: 1024, phasesComputed: [1, 2], warnings: [] });

    const evs = eventsOf(job.jobId);
    expect(evs.map((e) => e.seq)).toEqual(evs.map((_, i) => i));
    expect(evs[0].type).toBe("accepted");
    const progress = evs.filter((e) => e.type === "progress");
    expect(progress.length).toBeGreaterThan(1);
    const percents = progress.map((e) => (e as { percent: number }).percent);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    expect(progress.map((e) => (e as { phase: number }).phase)).toContain(2);
    // Each phase is published as soon as it is done: phase 1's artifacts come before phase 2's progress, and the
    // completion after every artifact.
    const lowres = evs.findIndex((e) => e.type === "artifact" && (e as { kind: string }).kind === "lowres_image");
    const phase2 = evs.findIndex((e) => e.type === "progress" && (e as { phase: number }).phase === 2);
    expect(lowres).toBeGreaterThan(0);
    expect(lowres).toBeLessThan(phase2);
    expect(evs.indexOf(end)).toBe(evs.length - 1);

    const arts = artifactsOf(job.jobId);
    expect(arts.map((a) => a.key)).toEqual([
      "lowres_image/phase-1.png",
      "lowres_latents/phase-1.npy",
      "attention_maps/phase-1.npy",
      "tokens/tokens.json",
      "canny/phase-1.png",
      "patch_prompts/phase-2.json",
      "phase_image/phase-2.png",
      "phase_latents/phase-2.npy",
      "canny/phase-2.png",
      "final_image/final.png",
    ]);
    for (const a of arts) {
      const bytes = upload(a.key);
      expect(a.bytes).toBe(bytes.length);
      expect(a.sha256).toBe(await sha256Hex(bytes));
      // The final image is phase 2's: it carries that phase's key (and no phase, as the protocol wants).
      expect(a.meta?.cacheKey).toBe(a.phase === 2 || a.kind === "final_image" ? PHASE2_KEY : PHASE1_KEY);
    }
    const size = async (key: string) => {
      const img = await decodeImage(upload(key));
      return [img.width, img.height];
    };
    expect(await size("lowres_image/phase-1.png")).toEqual([512, 512]);
    expect(await size("phase_image/phase-2.png")).toEqual([1024, 1024]);
    expect(await size("final_image/final.png")).toEqual([1024, 1024]);
    expect(await size("canny/phase-2.png")).toEqual([1024, 1024]);
    expect(decodeNpy(upload("lowres_latents/phase-1.npy")).shape).toEqual([1, 4, 64, 64]);
    expect(decodeNpy(upload("phase_latents/phase-2.npy")).shape).toEqual([1, 4, 128, 128]);
    const att = decodeNpy(upload("attention_maps/phase-1.npy"));
    expect(att.shape).toEqual([16, 16, 77]);
    const tokens = JSON.parse(new TextDecoder().decode(upload("tokens/tokens.json")));
    expect(tokens[0]).toBe("<|startoftext|>");
    expect(tokens).toContain("cat");
    const pp = JSON.parse(new TextDecoder().decode(upload("patch_prompts/phase-2.json")));
    expect(pp["2"].views.length).toBe(pp["2"].prompts.length);
    expect(pp["2"].views.length).toBeGreaterThan(1);

    if (end.type !== "completed") throw new Error("unreachable");
    expect(Object.keys(end.modelEvaluations).sort()).toEqual(["1", "2"]);
    // Phase 1: one CFG-batched UNet call per step and one VAE decode.
    expect(end.modelEvaluations["1"]).toMatchObject({ unetCalls: 4, unetSamples: 8, controlnetCalls: 0, vaeCalls: 1 });
    expect(end.modelEvaluations["2"].controlnetCalls).toBeGreaterThan(0);
    expect(end.timingsMs.total).toBeGreaterThan(0);
    expect(end.timingsMs.phase2).toBeGreaterThan(0);
    first = {
      job,
      final: upload("final_image/final.png").slice(),
      phase2Latents: upload("phase_latents/phase-2.npy").slice(),
    };
  }, 90_000);

  it("resumes from phase 1's artifacts: computes only phase 2, byte-identical to the uninterrupted run", async () => {
    expect(first).toBeDefined();
    const from = (key: string) => `${first.job.uploadUrl}/${key}`;
    const job = makeJob(
      { width: 1024, height: 1024, steps: 4 },
      {
        resume: {
          fromPhase: 1,
          artifacts: {
            latents: from("lowres_latents/phase-1.npy"),
            image: from("lowres_image/phase-1.png"),
            attentionMaps: from("attention_maps/phase-1.npy"),
            tokens: from("tokens/tokens.json"),
            lowresLatents: from("lowres_latents/phase-1.npy"),
          },
        },
      },
    );
    expect((await submit(job)).status).toBe(202);
    const end = await worker.waitFor(terminal(job.jobId), 60_000);
    expect(end).toMatchObject({ type: "completed", phasesComputed: [2] });
    if (end.type !== "completed") throw new Error("unreachable");
    expect(Object.keys(end.modelEvaluations)).toEqual(["2"]);
    const kinds = artifactsOf(job.jobId).map((a) => a.kind);
    expect(kinds).not.toContain("lowres_image");
    expect(kinds).not.toContain("attention_maps");
    expect(kinds).toContain("phase_image");
    // Progress starts where phase 1 left off.
    const p = eventsOf(job.jobId).find((e) => e.type === "progress") as { phase: number; percent: number };
    expect(p.phase).toBe(2);
    expect(p.percent).toBeGreaterThan(10);
    expect(Buffer.from(upload("final_image/final.png")).equals(Buffer.from(first.final))).toBe(true);
    expect(Buffer.from(upload("phase_latents/phase-2.npy")).equals(Buffer.from(first.phase2Latents))).toBe(true);
  }, 90_000);

  it("refuses resume artifacts of another prompt without retrying", async () => {
    expect(first).toBeDefined();
    const from = (key: string) => `${first.job.uploadUrl}/${key}`;
    const job = makeJob(
      { prompt: "a red house", width: 1024, height: 1024, steps: 4 },
      {
        resume: {
          fromPhase: 1,
          artifacts: {
            latents: from("lowres_latents/phase-1.npy"),
            image: from("lowres_image/phase-1.png"),
            attentionMaps: from("attention_maps/phase-1.npy"),
            tokens: from("tokens/tokens.json"),
            lowresLatents: from("lowres_latents/phase-1.npy"),
          },
        },
      },
    );
    await submit(job);
    expect(await worker.waitFor(terminal(job.jobId), 30_000)).toMatchObject({ type: "failed", retryable: false });
  });

  it("cancel stops a running job between model calls, uploading nothing", async () => {
    const job = makeJob({ width: 1024, height: 1024, steps: 40 });
    await submit(job);
    await worker.waitFor((e) => e.jobId === job.jobId && e.type === "progress", 30_000);
    const path = runnerCancelPath(job.jobId, job.attempt);
    const headers = await signRequest(secret, { method: "POST", path, body: "" });
    const t0 = Date.now();
    expect((await fetch(`${runner.url}${path}`, { method: "POST", body: "", headers })).status).toBe(202);
    const end = await worker.waitFor(terminal(job.jobId), 30_000);
    expect(end).toMatchObject({ type: "cancelled", phasesCompleted: [] });
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(artifactsOf(job.jobId)).toEqual([]);
  }, 60_000);

  it("upscales the user's image (checked against its hash) and refuses a request the pipeline cannot run", async () => {
    const img = await decodeImage(upload("lowres_image/phase-1.png"));
    const bytes = await encodeImage(img, "png");
    worker.uploads.set("inputs/user.png", { contentType: "image/png", bytes });
    const image = { sha256: await sha256Hex(bytes), width: img.width, height: img.height };
    const job = makeJob({ width: 1024, height: 1024, steps: 2, format: "webp", image });
    job.imageUrl = `${worker.url}/internal/jobs/${job.jobId}/artifacts/inputs/user.png`;
    await submit(job);
    const end = await worker.waitFor(terminal(job.jobId), 60_000);
    expect(end).toMatchObject({ type: "completed", width: 1024, height: 1024 });
    const final = artifactsOf(job.jobId).find((a) => a.kind === "final_image")!;
    expect(final).toMatchObject({ contentType: "image/webp", key: "final_image/final.webp" });
    // Phase images come as PNG too (a later job's next phase must see exactly these pixels); the final one does not.
    for (const kind of ["lowres_image", "phase_image"]) {
      const imgs = artifactsOf(job.jobId).filter(
        (a) => a.kind === kind && (a.phase ?? 1) === (kind === "lowres_image" ? 1 : 2),
      );
      expect(imgs.map((a) => a.contentType).sort(), kind).toEqual(["image/png", "image/webp"]);
    }
    expect(artifactsOf(job.jobId).filter((a) => a.kind === "final_image")).toHaveLength(1);
    // The encoded image and the scale-1 refinement are both phase 1; one canny per protocol phase.
    const cannyKeys = artifactsOf(job.jobId)
      .filter((a) => a.kind === "canny")
      .map((a) => a.key);
    expect(cannyKeys).toEqual(["canny/phase-1.png", "canny/phase-2.png"]);
    expect((end as { phasesComputed: number[] }).phasesComputed).toEqual([1, 2]);

    const forged = makeJob({ width: 1024, height: 1024, steps: 2, image: { ...image, sha256: "0".repeat(64) } });
    forged.imageUrl = job.imageUrl;
    await submit(forged);
    expect(await worker.waitFor(terminal(forged.jobId), 30_000)).toMatchObject({ type: "failed", retryable: false });

    const nothing = makeJob({
      width: 1024,
      height: 1024,
      steps: 2,
      switches: { multidiffusion: false, dilatedSampling: false },
    });
    await submit(nothing);
    const refused = await worker.waitFor(terminal(nothing.jobId), 30_000);
    expect(refused).toMatchObject({ type: "failed", retryable: false });
    expect((refused as { reason: string }).reason).toMatch(/MultiDiffusion/);
  }, 90_000);

  it("reports readiness with the loaded bundle and the provider in use", async () => {
    expect(runner.manager.acceptingJobs).toBe(true);
    const r = await fetch(`${runner.url}/readyz`);
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({
      ready: true,
      provider: "cpu",
      bundle: { name: "toy-world", hash: models.info.hash },
    });
  });

  it("on shutdown mid-job hands the job back as a retryable failure (last: it stops this runner)", async () => {
    const job = makeJob({ width: 1024, height: 1024, steps: 40 });
    await submit(job);
    await worker.waitFor((e) => e.jobId === job.jobId && e.type === "progress", 30_000);
    await runner.shutdown();
    const end = await worker.waitFor(terminal(job.jobId), 10_000);
    expect(end).toMatchObject({ type: "failed", retryable: true, reason: "runner shutting down" });
    expect(artifactsOf(job.jobId)).toEqual([]);
  }, 60_000);
});

describe("pipeline engine failures", () => {
  /** Runs the engine directly, its first upload failing with `error`; resolves with what run() threw. */
  async function failingUpload(error: Error): Promise<Error & { retryable?: boolean }> {
    const engine = createPipelineEngine({ models, log: silentLogger });
    let uploads = 0;
    const hooks: JobHooks = {
      signal: new AbortController().signal,
      progress: () => {},
      artifact: async () => {
        uploads++;
        throw error;
      },
      download: async () => new Uint8Array(0),
    };
    const err = await engine.run(makeJob({ width: 1024, height: 1024, steps: 1 }), hooks).then(
      () => new Error("the job completed"),
      (e: Error) => e,
    );
    expect(uploads).toBe(1); // stopped at the first failed upload
    return err;
  }

  it("an upload the worker could not take after every retry is a retryable failure, a refused one is not", async () => {
    const transient = await failingUpload(new Error("giving up after 8 tries: PUT ... -> 503"));
    expect(transient).toMatchObject({ retryable: true });
    expect(transient.message).toMatch(/could not upload lowres_image\/phase-1.png: giving up after 8 tries/);
    const refused = await failingUpload(new PermanentHttpError("PUT ... -> 410 Superseded attempt", 410));
    expect(refused).toMatchObject({ retryable: false });
  }, 60_000);
});

describe("pipeline engine readiness while loading", () => {
  it("is not ready until the bundle loaded, and says why when it failed", async () => {
    let resolve!: (m: OnnxModels) => void;
    const pending = createPipelineEngine({ models: new Promise<OnnxModels>((r) => (resolve = r)) });
    expect(pending.readiness()).toMatchObject({ ready: false, detail: "loading the model bundle" });
    resolve(models);
    await pending.loaded;
    expect(pending.readiness().ready).toBe(true);
    const failed = createPipelineEngine({ models: Promise.reject(new Error("no bundle.json")) });
    await failed.loaded.catch(() => {});
    expect(failed.readiness()).toMatchObject({ ready: false, detail: expect.stringMatching(/no bundle.json/) });
  });
});
