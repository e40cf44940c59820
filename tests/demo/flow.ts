/**
 * The demo's story, through the public API only: an operator creates an account, a key and credit; the account
 * renders the prompt at 4x the bundle's base resolution (following progress), downloads the preview, every phase and
 * the final image; then asks for 2x and 3x of the same prompt and seed, which the cache answers at once because the
 * 4x render computed those phases. Nothing here reaches into the worker or the runner: what it reports is what a
 * client sees.
 */
import type { Api, JobView, Usage } from "./api";
import { followJob } from "./follow";

export const DEMO_PROMPT = "a cat and a dog are playing on the lawn";

export interface DemoOptions {
  prompt: string;
  seed: number;
  steps: number;
  /** The first render's scale, then the scales asked again (the cache answers those). */
  firstScale: number;
  againScales: number[];
  baseResolution: number;
  /** A render still unfinished after this long fails the demo (default 5 minutes). */
  renderTimeoutMs?: number;
  /** Progress of the dispatched render, one call per job representation the SSE stream brings. */
  onProgress?: (view: JobView) => void;
  say?: (line: string) => void;
}

/** A downloaded artifact with what the API said about it. */
export interface Downloaded {
  name: string;
  kind: string;
  phase: number | null;
  contentType: string;
  width: number | null;
  height: number | null;
  source: string;
  sha256: string;
  meta: Record<string, unknown> | null;
  bytes: Uint8Array;
}

export interface RenderRecord {
  label: string;
  scale: number;
  width: number;
  height: number;
  /** POST /v1/images answer: 202 accepted, 200 answered from the cache. */
  httpStatus: number;
  submitted: JobView;
  final: JobView;
  /** The views the SSE stream delivered while following (empty when answered at once). */
  progressViews: number;
  files: Downloaded[];
  wallMs: number;
}

export interface DemoRun {
  accountId: string;
  credited: number;
  quotes: { label: string; price: number }[];
  renders: RenderRecord[];
  usage: Usage;
}

/** Artifacts the report shows; the latents are skipped (large, and only the cache needs them). */
const SHOWN_KINDS = new Set([
  "lowres_image",
  "phase_image",
  "final_image",
  "canny",
  "attention_maps",
  "tokens",
  "patch_prompts",
]);

async function downloadAll(api: Api, view: JobView, kinds: ReadonlySet<string>): Promise<Downloaded[]> {
  const out: Downloaded[] = [];
  for (const f of view.files) {
    if (!kinds.has(f.kind)) continue;
    const bytes = await api.download(f.url);
    if (bytes.byteLength !== f.bytes) {
      throw new Error(`${f.name}: downloaded ${bytes.byteLength} bytes, the API announced ${f.bytes}`);
    }
    const { url: _url, bytes: _n, ...about } = f;
    out.push({ ...about, bytes });
  }
  return out;
}

async function render(api: Api, o: DemoOptions, scale: number, kinds: ReadonlySet<string>): Promise<RenderRecord> {
  const t0 = Date.now();
  const side = o.baseResolution * scale;
  const label = `${scale}x`;
  const body = { prompt: o.prompt, width: side, height: side, seed: o.seed, steps: o.steps };
  const { status, job } = await api.submit(body, `demo-${label}-${o.seed}-${o.steps}`);
  let views = 0;
  const final =
    status === 200
      ? job
      : await followJob(api, job.id, {
          timeoutMs: o.renderTimeoutMs ?? 300_000,
          onView: (v) => {
            views++;
            o.onProgress?.(v);
          },
        });
  if (final.status !== "succeeded") {
    throw new Error(
      `the ${label} render ${final.status}: ${final.error ? `${final.error.code}: ${final.debug?.reason}` : "no reason given"}`,
    );
  }
  const files = await downloadAll(api, final, kinds);
  return {
    label,
    scale,
    width: side,
    height: side,
    httpStatus: status,
    submitted: job,
    final,
    progressViews: views,
    files,
    wallMs: Date.now() - t0,
  };
}

/** Runs the story on a started stack; `admin` carries the admin token. */
export async function runDemoFlow(admin: Api, o: DemoOptions): Promise<DemoRun> {
  const say = o.say ?? (() => {});
  const accountId = await admin.createAccount("demo");
  const key = await admin.issueKey(accountId, "demo app");
  const api = admin.as(key);

  const side = o.baseResolution * o.firstScale;
  const q = await api.quote({ prompt: o.prompt, seed: o.seed, steps: o.steps, width: side, height: side });
  // Enough for the first render at the quoted price and the cached ones after it, with room to spare.
  const credited = Math.max(1_000_000, q.price * 10);
  await admin.credit(accountId, credited, `demo-topup-${accountId}`);
  say(`account ${accountId}: key issued, credited ${credited} microdollars; ${o.firstScale}x quoted ${q.price}`);

  const renders: RenderRecord[] = [];
  say(`POST /v1/images ${side}x${side}, ${o.steps} steps: "${o.prompt}" (seed ${o.seed})`);
  const first = await render(api, o, o.firstScale, SHOWN_KINDS);
  renders.push(first);
  say(`${first.label}: ${first.final.status} in ${(first.wallMs / 1000).toFixed(1)} s, ${first.files.length} files`);

  const quotes = [{ label: first.label, price: q.price }];
  for (const scale of o.againScales) {
    const s = o.baseResolution * scale;
    const again = await api.quote({ prompt: o.prompt, seed: o.seed, steps: o.steps, width: s, height: s });
    quotes.push({ label: `${scale}x`, price: again.price });
    const r = await render(api, o, scale, new Set(["lowres_image", "phase_image", "final_image"]));
    renders.push(r);
    const c = r.final.cache;
    say(
      `${r.label}: HTTP ${r.httpStatus} ${r.final.status}, dispatched: ${r.final.dispatched}, ` +
        `cache: phase 1 ${c.phase1}, served [${c.phasesServed.join(", ")}], charged ${r.final.billing.charged}`,
    );
  }
  const usage = await api.usage();
  return { accountId, credited, quotes, renders, usage };
}
