/**
 * summary.json: one entry per request under `renders` (size, status, whether a runner got it, what the cache
 * served, its price and the model evaluations it cost), the account's ledger as the API reports it, and the runner's
 * own account of the jobs it accepted. Pure: built from what the demo saw, so it can be checked without a stack.
 */
import type { LedgerEntry } from "./api";
import type { DemoRun, RenderRecord } from "./flow";

export const EVALUATION_KINDS = [
  "unetCalls",
  "unetSamples",
  "controlnetCalls",
  "controlnetSamples",
  "textEncodings",
  "vaeCalls",
] as const;

export type EvaluationKind = (typeof EVALUATION_KINDS)[number];
export type Evaluations = Record<EvaluationKind, number>;

export interface RenderSummary {
  label: string;
  jobId: string;
  width: number;
  height: number;
  httpStatus: number;
  status: string;
  dispatched: boolean;
  cache: { phase1: string; phasesServed: number[]; phasesComputed: number[]; patchPromptsRecomputed: boolean };
  price: { quoted: number; reserved: number; charged: number; currency: string; unit: string; billing: string };
  modelEvaluations: { total: Evaluations; byPhase: Record<string, Evaluations> };
  images: {
    file: string;
    kind: string;
    phase: number | null;
    width: number | null;
    height: number | null;
    source: string;
  }[];
  wallMs: number;
}

export interface DemoSummary {
  createdAt: string;
  prompt: string;
  seed: number;
  steps: number;
  bundle: { name: string; version: string; hash: string; baseResolution: number };
  accountId: string;
  renders: RenderSummary[];
  runner: { url: string; jobsAccepted: string[] };
  ledger: { balance: number; reserved: number; credited: number; charged: number; entries: LedgerEntry[] };
  timingsMs: Record<string, number>;
}

export function zeroEvaluations(): Evaluations {
  return { unetCalls: 0, unetSamples: 0, controlnetCalls: 0, controlnetSamples: 0, textEncodings: 0, vaeCalls: 0 };
}

/** The per-phase counts the job reports (`result.modelEvaluations`), read defensively, and their total. */
export function evaluationsOf(raw: Record<string, unknown> | undefined | null): RenderSummary["modelEvaluations"] {
  const total = zeroEvaluations();
  const byPhase: Record<string, Evaluations> = {};
  for (const [phase, value] of Object.entries(raw ?? {})) {
    const e = zeroEvaluations();
    for (const k of EVALUATION_KINDS) {
      const n = (value as Record<string, unknown> | null)?.[k];
      e[k] = typeof n === "number" && Number.isFinite(n) ? n : 0;
      total[k] += e[k];
    }
    byPhase[phase] = e;
  }
  return { total, byPhase };
}

function renderSummary(r: RenderRecord, quoted: number, fileOf: (r: RenderRecord, name: string) => string) {
  const v = r.final;
  return {
    label: r.label,
    jobId: v.id,
    width: r.width,
    height: r.height,
    httpStatus: r.httpStatus,
    status: v.status,
    dispatched: v.dispatched,
    cache: {
      phase1: v.cache.phase1,
      phasesServed: v.cache.phasesServed,
      phasesComputed: v.cache.phasesComputed,
      patchPromptsRecomputed: v.cache.patchPromptsRecomputed,
    },
    price: {
      quoted,
      reserved: v.billing.reserved,
      charged: v.billing.charged,
      currency: v.quote.currency,
      unit: v.quote.unit,
      billing: v.billing.state,
    },
    modelEvaluations: evaluationsOf(v.result?.modelEvaluations),
    images: r.files
      .filter((f) => f.contentType.startsWith("image/"))
      .map((f) => ({
        file: fileOf(r, f.name),
        kind: f.kind,
        phase: f.phase,
        width: f.width,
        height: f.height,
        source: f.source,
      })),
    wallMs: r.wallMs,
  } satisfies RenderSummary;
}

export interface SummaryContext {
  prompt: string;
  seed: number;
  steps: number;
  bundle: DemoSummary["bundle"];
  runnerUrl: string;
  jobsAccepted: string[];
  timingsMs: Record<string, number>;
  /** Where a downloaded file was written, relative to the output folder. */
  fileOf: (r: RenderRecord, name: string) => string;
  now?: Date;
}

export function buildSummary(run: DemoRun, ctx: SummaryContext): DemoSummary {
  const renders = run.renders.map((r) =>
    renderSummary(r, run.quotes.find((q) => q.label === r.label)?.price ?? r.final.quote.price, ctx.fileOf),
  );
  return {
    createdAt: (ctx.now ?? new Date()).toISOString(),
    prompt: ctx.prompt,
    seed: ctx.seed,
    steps: ctx.steps,
    bundle: ctx.bundle,
    accountId: run.accountId,
    renders,
    runner: { url: ctx.runnerUrl, jobsAccepted: ctx.jobsAccepted },
    ledger: {
      balance: run.usage.balance,
      reserved: run.usage.reserved,
      credited: run.credited,
      charged: renders.reduce((a, r) => a + r.price.charged, 0),
      entries: run.usage.ledger.entries,
    },
    timingsMs: ctx.timingsMs,
  };
}
