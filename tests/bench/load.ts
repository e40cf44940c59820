/**
 * A bounded, closed-loop load generator for loopback services: `concurrency` clients each start their next request
 * when the previous one ends, until `requests` have been started or `timeLimitMs` has passed (whichever is first);
 * every request has its own timeout. Latencies are client-side wall-clock milliseconds from the call to the end of
 * the response body.
 */

export interface LoadOptions {
  requests: number;
  concurrency: number;
  /** No request starts after this; the run ends when the ones in flight end. */
  timeLimitMs: number;
  /** Aborts a single request (default 10 s). */
  requestTimeoutMs?: number;
}

/** One request: resolves with the HTTP status once the body has been read, or rejects. */
export type Operation = (index: number, signal: AbortSignal) => Promise<number>;

export interface LatencyStats {
  min: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

export interface LoadResult {
  /** Requests started (fewer than asked when the time limit cut the run). */
  started: number;
  /** Requests answered, by HTTP status. */
  statuses: Record<string, number>;
  /** Requests that threw (connection error, timeout), with the first few messages. */
  errors: number;
  errorSamples: string[];
  /** Over answered requests. */
  latencyMs: LatencyStats;
  wallMs: number;
  /** Answered requests per second of wall-clock time. */
  reqPerSec: number;
  concurrency: number;
  timeLimited: boolean;
}

const round1 = (x: number) => Math.round(x * 10) / 10;

/** Nearest-rank percentile (p in [0, 100]) of ascending `sorted`; NaN for an empty list. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export function latencyStats(samples: readonly number[]): LatencyStats {
  const s = [...samples].sort((a, b) => a - b);
  const mean = s.length ? s.reduce((a, b) => a + b, 0) / s.length : Number.NaN;
  return {
    min: round1(s[0] ?? Number.NaN),
    p50: round1(percentile(s, 50)),
    p95: round1(percentile(s, 95)),
    p99: round1(percentile(s, 99)),
    max: round1(s[s.length - 1] ?? Number.NaN),
    mean: round1(mean),
  };
}

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]", "::1"]);

/** Throws unless `url` is http(s) on a loopback address: the benchmark never loads anything else. */
export function assertLoopback(url: string): void {
  const u = new URL(url);
  if ((u.protocol !== "http:" && u.protocol !== "https:") || !LOOPBACK_HOSTS.has(u.hostname)) {
    throw new Error(`refusing to load ${u.origin}: the benchmark only targets loopback addresses`);
  }
}

export async function runLoad(
  op: Operation,
  o: LoadOptions,
  now: () => number = () => performance.now(),
): Promise<LoadResult> {
  if (!(o.requests >= 0 && o.concurrency >= 1)) throw new RangeError("requests >= 0 and concurrency >= 1 needed");
  const timeout = o.requestTimeoutMs ?? 10_000;
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const errorSamples: string[] = [];
  let errors = 0;
  let next = 0;
  let timeLimited = false;
  const t0 = now();
  const client = async () => {
    for (;;) {
      if (next >= o.requests) return;
      if (now() - t0 >= o.timeLimitMs) {
        timeLimited = true;
        return;
      }
      const i = next++;
      const start = now();
      try {
        const status = await op(i, AbortSignal.timeout(timeout));
        latencies.push(now() - start);
        statuses[status] = (statuses[status] ?? 0) + 1;
      } catch (e) {
        errors++;
        if (errorSamples.length < 3) errorSamples.push(e instanceof Error ? e.message : String(e));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency, Math.max(1, o.requests)) }, client));
  const wallMs = now() - t0;
  return {
    started: next,
    statuses,
    errors,
    errorSamples,
    latencyMs: latencyStats(latencies),
    wallMs: Math.round(wallMs),
    reqPerSec: wallMs > 0 ? round1((latencies.length * 1000) / wallMs) : 0,
    concurrency: o.concurrency,
    timeLimited,
  };
}
