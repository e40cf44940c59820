/**
 * Figure 4: the worker's latency and throughput under a bounded local load, on loopback only.
 *
 * The stack is the demo's (tests/demo/stack.ts: the toy-world runner process and the worker in the local Workers
 * runtime through wrangler, local KV/R2/Durable Objects). One small render (the toy base size, a few steps) gives a
 * finished job; then, each as its own closed-loop run of `requests` requests at `concurrency`:
 * - create (cache hit): POST /v1/images of that same request with fresh Idempotency-Keys -> 200, answered from the
 *   cache (plan, quote, ledger charge, a new JobDO), no runner;
 * - status: GET /v1/images/:id of the finished job (JobDO read, signed links for every file);
 * - download: GET of the final image through its signed link (R2 read, whole body);
 * - create (miss): POST /v1/images with a new seed each -> 202 (plan, quote, reservation, JobDO, dispatch alarm).
 *   The runner is stopped first so that no render competes for the CPU; the jobs' dispatch attempts (connection
 *   refused, then back-off) still run in the worker, as dispatch does after every real create.
 * The account gets a rate limit and a daily quota far above the load, so no request is refused by design.
 */
import { Api, type JobView } from "../demo/api";
import { followJob } from "../demo/follow";
import { startStack } from "../demo/stack";
import { assertLoopback, type LoadOptions, type LoadResult, runLoad } from "./load";

export interface WorkerFigures {
  load: Omit<LoadOptions, "requestTimeoutMs">;
  seedRender: { width: number; height: number; steps: number; wallMs: number; finalImageBytes: number };
  create_cacheHit: LoadResult;
  status: LoadResult;
  download: LoadResult;
  create_miss: LoadResult;
  startupMs: number;
  ms: number;
}

const PROMPT = "a cat and a dog are playing on the lawn";

async function drain(res: Response): Promise<number> {
  await res.arrayBuffer();
  return res.status;
}

export async function workerFigures(
  o: { requests: number; concurrency: number; timeLimitMs: number; logDir: string },
  say: (line: string) => void = () => {},
): Promise<WorkerFigures> {
  const t0 = performance.now();
  const stack = await startStack({ logDir: o.logDir, say: (l) => say(`worker: ${l}`) });
  try {
    assertLoopback(stack.workerUrl);
    assertLoopback(stack.runner.url);
    const startupMs = Math.round(performance.now() - t0);
    const admin = new Api(stack.workerUrl, stack.adminToken);
    const account = await admin.json<{ id: string }>("POST", "/admin/accounts", [201], {
      name: "bench",
      dailyQuota: 10_000_000,
      rateLimit: { burst: 1_000_000, perSecond: 1_000_000 },
    });
    const accountId = account.body.id;
    const api = admin.as(await admin.issueKey(accountId, "bench"));
    await admin.credit(accountId, 1e12, `bench-${accountId}`);

    const side = stack.bundle.baseResolution;
    const steps = 4;
    const body = { prompt: PROMPT, width: side, height: side, seed: 7, steps };
    say(`worker: seed render ${side}x${side}, ${steps} steps`);
    const r0 = performance.now();
    const submitted = await api.submit(body, `bench-seed-${Date.now()}`);
    const done: JobView =
      submitted.status === 200 ? submitted.job : await followJob(api, submitted.job.id, { timeoutMs: 120_000 });
    if (done.status !== "succeeded")
      throw new Error(`the seed render ${done.status}: ${done.error?.code ?? ""} ${done.debug?.reason ?? ""}`);
    const seedMs = Math.round(performance.now() - r0);
    const final = done.files.find((f) => f.kind === "final_image");
    if (!final) throw new Error("the seed render has no final image");
    assertLoopback(final.url);

    const load = { requests: o.requests, concurrency: o.concurrency, timeLimitMs: o.timeLimitMs };
    // A few unmeasured requests first (one per client) so that the figures are not those of a cold runtime.
    const run = async (name: string, op: (key: string, signal: AbortSignal) => Promise<number>) => {
      say(`worker: ${name}, ${o.requests} requests at concurrency ${o.concurrency}`);
      await runLoad((i, signal) => op(`warm-${i}`, signal), { ...load, requests: o.concurrency });
      return runLoad((i, signal) => op(String(i), signal), load);
    };
    const tag = Date.now().toString(36);
    const post = (extra: Record<string, unknown>, key: string, signal: AbortSignal) =>
      api.call("POST", "/v1/images", { ...body, ...extra }, { "idempotency-key": key }, signal).then(drain);

    const create_cacheHit = await run("create (cache hit)", (key, signal) =>
      post({}, `bench-hit-${tag}-${key}`, signal),
    );
    const status = await run("status", (_i, signal) =>
      api.call("GET", `/v1/images/${done.id}`, undefined, {}, signal).then(drain),
    );
    const download = await run("download", (_i, signal) => fetch(final.url, { signal }).then(drain));
    // No render may compete with the worker for the CPU: the runner goes before the misses are created.
    await stack.runner.stop(5000);
    let seed = 1_000_000;
    const create_miss = await run("create (miss)", (key, signal) =>
      post({ seed: seed++ }, `bench-miss-${tag}-${key}`, signal),
    );
    return {
      load,
      seedRender: { width: side, height: side, steps, wallMs: seedMs, finalImageBytes: final.bytes },
      create_cacheHit,
      status,
      download,
      create_miss,
      startupMs,
      ms: Math.round(performance.now() - t0),
    };
  } finally {
    await stack.stop().catch((e: unknown) => say(`worker: stop failed: ${e instanceof Error ? e.message : String(e)}`));
  }
}
