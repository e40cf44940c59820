/**
 * Helpers for the job tests: calls into the worker (through its real fetch handler), the loopback fakes' control
 * endpoints, and polling. Accounts come from the billing helpers (real AccountDO).
 */
import { createExecutionContext, runDurableObjectAlarm, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { signRequest } from "@accdiff/shared";
import { vi } from "vitest";
import { configOf, type Env } from "../src/env";
import app from "../src/index";
import { jobStub } from "../src/jobs/client";
import type { JobView } from "../src/jobs/view";
import { JobViewSchema } from "../src/jobs/viewSchema";
import { fundedAccount } from "./accountsHelpers";
import { conform } from "./contract";
import type { ReplicateScenario } from "./fakes/fakeReplicate";
import type { ReceivedJob, Scenario } from "./fakes/fakeRunner";

export { audit } from "./accountsHelpers";

/** A funded account with one key, whose rate limit polling tests cannot exhaust. */
export function account(balance: number) {
  return fundedAccount(balance, { rateLimit: { burst: 100_000, perSecond: 10_000 } });
}

export const testEnv = env as unknown as Env & { FAKE_URL: string };
export const FAKE = testEnv.FAKE_URL;
const worker = (exports as unknown as { default: Fetcher }).default;
export const ORIGIN = "http://api.test";

export interface CallOptions {
  key?: string | null;
  body?: unknown;
  headers?: Record<string, string>;
  /** Run the app with these bindings replaced (e.g. DISPATCH_BACKEND) instead of the deployed ones. */
  envOverride?: Partial<Env>;
}

export async function api(method: string, path: string, o: CallOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { ...o.headers };
  if (o.key) headers.authorization = `Bearer ${o.key}`;
  let body: BodyInit | undefined;
  if (o.body !== undefined) {
    if (
      typeof o.body === "string" ||
      o.body instanceof Uint8Array ||
      o.body instanceof FormData ||
      o.body instanceof ReadableStream
    ) {
      body = o.body as BodyInit;
    } else {
      body = JSON.stringify(o.body);
      headers["content-type"] ??= "application/json";
    }
  }
  const url = path.startsWith("http") ? path : `${ORIGIN}${path}`;
  if (o.envOverride) {
    const ctx = createExecutionContext();
    const res = await app.fetch(new Request(url, { method, headers, body }), { ...testEnv, ...o.envOverride }, ctx);
    await waitOnExecutionContext(ctx);
    return conform(method, url, res);
  }
  return conform(method, url, await worker.fetch(url, { method, headers, body }));
}

export async function expectJson<T = Record<string, unknown>>(res: Response, status: number): Promise<T> {
  const text = await res.text();
  if (res.status !== status) throw new Error(`expected HTTP ${status}, got ${res.status}: ${text}`);
  return JSON.parse(text) as T;
}

/** A job representation, checked against the documented schema. */
export async function expectJob(res: Response, status: number): Promise<JobView> {
  const body = await expectJson(res, status);
  return JobViewSchema.parse(body) as unknown as JobView;
}

export function uniquePrompt(label: string): string {
  return `${label} ${crypto.randomUUID()}`;
}

export function seedOf(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

export async function setScenario(prompt: string, scenario: Scenario): Promise<void> {
  const res = await fetch(`${FAKE}/_control/scenario`, { method: "POST", body: JSON.stringify({ prompt, scenario }) });
  if (!res.ok) throw new Error(`scenario: ${res.status}`);
}

export async function setReplicateScenario(prompt: string, scenario: ReplicateScenario): Promise<void> {
  const res = await fetch(`${FAKE}/_control/replicate/scenario`, {
    method: "POST",
    body: JSON.stringify({ prompt, scenario }),
  });
  if (!res.ok) throw new Error(`scenario: ${res.status}`);
}

export interface RunnerLog {
  jobs: ReceivedJob[];
  cancels: { runner: string; jobId: string; attempt: number; status: number; at: number }[];
  probes: { runner: string; jobId: string; attempt: number; at: number }[];
  refusals: { runner: string; jobId: string; attempt: number; status: number }[];
}

export async function runnerLog(prompt: string): Promise<RunnerLog> {
  const res = await fetch(`${FAKE}/_control/jobs?prompt=${encodeURIComponent(prompt)}`);
  return (await res.json()) as RunnerLog;
}

/** The job's Durable Object (for runDurableObjectAlarm / runInDurableObject). */
export function jobObject(id: string): DurableObjectStub {
  return testEnv.JOBS.get(testEnv.JOBS.idFromString(id));
}

/**
 * Lets a job's lease run out: the clock (Date, which the Durable Object shares with the tests) is moved just past the
 * lease and the alarm fires. The lease is a deadline, so firing the alarm alone would change nothing.
 */
export async function expireLease(id: string): Promise<boolean> {
  vi.useFakeTimers({ toFake: ["Date"] });
  try {
    vi.setSystemTime(Date.now() + configOf(testEnv).leaseMs + 1000);
    return await runDurableObjectAlarm(jobObject(id));
  } finally {
    vi.useRealTimers();
  }
}

/** Posts a runner event the way a runner does (signed with `secret`, the real one by default). */
export async function postEvent(
  jobId: string,
  event: Record<string, unknown>,
  o: { secret?: string; nonce?: string; now?: number; headers?: Record<string, string> } = {},
): Promise<Response> {
  const path = `/internal/jobs/${jobId}/events`;
  const body = JSON.stringify({ jobId, at: new Date().toISOString(), ...event });
  const signed = await signRequest(
    o.secret ?? testEnv.RUNNER_SECRET,
    { method: "POST", path, body },
    { nonce: o.nonce, now: o.now },
  );
  return api("POST", path, { body, headers: { "content-type": "application/json", ...signed, ...o.headers } });
}

/** Lets a runner held by a "hold" scenario go on (waits until it is actually holding). */
export async function releaseHold(jobId: string): Promise<void> {
  await waitFor(`runner holding ${jobId}`, async () => {
    const res = await fetch(`${FAKE}/_control/release?jobId=${jobId}`, { method: "POST" });
    return ((await res.json()) as { released: boolean }).released;
  });
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | null | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function getJob(key: string, id: string): Promise<JobView> {
  return expectJob(await api("GET", `/v1/images/${id}`, { key }), 200);
}

/**
 * Waits for a job's status by long-polling its Durable Object (the RPC behind SSE) rather than hammering the API,
 * then returns the public representation. Generous timeout: CI machines are often loaded.
 */
export async function waitForStatus(key: string, id: string, statuses: string[], timeoutMs = 60_000): Promise<JobView> {
  const stub = jobStub(testEnv.JOBS, id);
  if (!stub) throw new Error(`bad job id ${id}`);
  const end = Date.now() + timeoutMs;
  let version = -1;
  for (;;) {
    const s = await stub.waitForChange(version, 1000);
    if (s && statuses.includes(s.status)) return getJob(key, id);
    if (Date.now() > end)
      throw new Error(`timed out waiting for job ${id} to reach ${statuses.join("/")} (${s?.status})`);
    version = s?.version ?? -1;
  }
}

/** A request at 4x the test base resolution (phases 1..4), for tests about phases and the cache. */
export function body4x(prompt: string, seed: number, extra: Record<string, unknown> = {}) {
  return { prompt, width: 256, height: 256, seed, steps: 4, ...extra };
}

/** A request at 2x (phases 1 and 2): half the runner traffic, for tests where the number of phases does not matter. */
export function body2x(prompt: string, seed: number, extra: Record<string, unknown> = {}) {
  return { prompt, width: 128, height: 128, seed, steps: 4, ...extra };
}

/**
 * A 2x job whose runner accepted it (seq 0) and then holds: the test plays the runner from seq 1 (events, uploads).
 */
export async function heldJob(label: string, funds = 1_000_000) {
  const acct = await account(funds);
  const prompt = uniquePrompt(label);
  await setScenario(prompt, { attempts: { "1": { mode: "hold", afterPhase: 0 } } });
  const job = await expectJob(await api("POST", "/v1/images", { key: acct.key, body: body2x(prompt, seedOf()) }), 202);
  await waitFor("accepted", async () => (await getJob(acct.key, job.id)).status === "running");
  return { acct, prompt, job };
}
