/**
 * index.html of the demo: one self-contained page (relative links to the written pictures) that tells the story —
 * the renders and what each cost, the phases with their canny maps, each word's attention mask, each phase's
 * patch grid with the prompts, model evaluations, and the ledger. Every text from outside is escaped.
 */
import type { PatchBox } from "../../gpu-runner/src/images/pictures";
import { type DemoSummary, EVALUATION_KINDS, type RenderSummary } from "./summary";

export interface PhasePicture {
  phase: number;
  image: string;
  canny: string | null;
  width: number;
  height: number;
  source: string;
}

export interface ReportPictures {
  phases: PhasePicture[];
  final: string | null;
  attention: { token: number; word: string; file: string }[];
  patches: { phase: number; file: string; boxes: PatchBox[] }[];
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const e = (v: unknown) => escapeHtml(String(v));
const money = (n: number, unit: string) => (unit === "microdollars" ? `$${(n / 1e6).toFixed(6)}` : `${n} ${unit}`);
const seconds = (ms: number | undefined) => ((ms ?? 0) / 1000).toFixed(1);
const list = (xs: readonly number[]) => (xs.length ? xs.join(", ") : "none");

function rendersTable(s: DemoSummary): string {
  const rows = s.renders.map((r) => {
    const t = r.modelEvaluations.total;
    return `<tr><td>${e(r.label)}</td><td>${r.width}×${r.height}</td><td>${r.httpStatus}</td><td>${e(r.status)}</td>
<td>${r.dispatched ? "yes" : "<b>no</b>"}</td><td>${e(r.cache.phase1)}</td><td>${e(list(r.cache.phasesServed))}</td>
<td>${e(list(r.cache.phasesComputed))}</td><td>${e(money(r.price.quoted, r.price.unit))}</td>
<td>${e(money(r.price.charged, r.price.unit))}</td><td>${t.unetCalls} / ${t.unetSamples}</td>
<td>${t.controlnetCalls} / ${t.controlnetSamples}</td><td>${t.textEncodings}</td><td>${t.vaeCalls}</td>
<td>${(r.wallMs / 1000).toFixed(1)} s</td></tr>`;
  });
  return `<table><tr><th>request</th><th>size</th><th>HTTP</th><th>status</th><th>runner</th><th>phase 1</th>
<th>phases from cache</th><th>phases computed</th><th>quoted</th><th>charged</th><th>UNet calls / samples</th>
<th>ControlNet calls / samples</th><th>text encodings</th><th>VAE calls</th><th>wall</th></tr>${rows.join("")}</table>`;
}

function evaluationsTable(r: RenderSummary): string {
  const phases = Object.keys(r.modelEvaluations.byPhase).sort((a, b) => Number(a) - Number(b));
  if (phases.length === 0) return "<p>No model was evaluated: the cache answered.</p>";
  const head = EVALUATION_KINDS.map((k) => `<th>${k}</th>`).join("");
  const row = (label: string, v: Record<string, number>) =>
    `<tr><td>${e(label)}</td>${EVALUATION_KINDS.map((k) => `<td>${v[k]}</td>`).join("")}</tr>`;
  const body = phases.map((p) => row(`phase ${p}`, r.modelEvaluations.byPhase[p])).join("");
  return `<table><tr><th></th>${head}</tr>${body}${row("total", r.modelEvaluations.total)}</table>`;
}

function phasesSection(p: ReportPictures): string {
  const last = Math.max(...p.phases.map((ph) => ph.phase));
  const cannyUse = (phase: number) =>
    phase < last
      ? `conditions phase ${phase + 1}'s ControlNet`
      : "kept in the cache for a larger render resuming from here";
  const cards = p.phases.map(
    (ph) => `<figure><a href="${e(ph.image)}"><img src="${e(ph.image)}" alt="phase ${ph.phase}"></a>
<figcaption>phase ${ph.phase} (${ph.width}×${ph.height}, ${e(ph.source)})</figcaption></figure>${
      ph.canny
        ? `<figure><a href="${e(ph.canny)}"><img src="${e(ph.canny)}" alt="canny ${ph.phase}"></a>
<figcaption>canny of phase ${ph.phase}: ${cannyUse(ph.phase)}</figcaption></figure>`
        : ""
    }`,
  );
  return `<div class="row">${cards.join("")}</div>`;
}

function attentionSection(p: ReportPictures): string {
  if (p.attention.length === 0) return "<p>No attention maps were published.</p>";
  const cards = p.attention.map(
    (a) =>
      `<figure class="small"><img src="${e(a.file)}" alt="${e(a.word)}"><figcaption>${a.token}: <b>${e(
        a.word,
      )}</b></figcaption></figure>`,
  );
  return `<div class="row">${cards.join("")}</div>`;
}

function patchesSection(p: ReportPictures): string {
  if (p.patches.length === 0) return "<p>No patch prompts were published.</p>";
  return p.patches
    .map((g) => {
      const rows = g.boxes
        .map(
          (b, i) =>
            `<tr><td>${i}</td><td>${b.top}–${b.bottom}</td><td>${b.left}–${b.right}</td><td>${e(b.prompt || "(empty)")}</td></tr>`,
        )
        .join("");
      return `<h3>phase ${g.phase}: ${g.boxes.length} windows</h3><div class="row"><figure class="grid"><a href="${e(g.file)}"><img src="${e(
        g.file,
      )}" alt="patch grid ${g.phase}"></a><figcaption>click for full size</figcaption></figure><details><summary>window prompts</summary><table><tr><th>#</th><th>rows</th>
<th>cols</th><th>prompt</th></tr>${rows}</table></details></div>`;
    })
    .join("");
}

/** A ledger entry's effect on the held total: a reserve holds the quote, a capture or release lets it go. */
function held(n: number, unit: string): string {
  if (n === 0) return "";
  return n > 0 ? `holds ${money(n, unit)}` : `frees ${money(-n, unit)}`;
}

function ledgerSection(s: DemoSummary): string {
  const unit = s.renders[0]?.price.unit ?? "microdollars";
  const rows = [...s.ledger.entries]
    .sort((a, b) => a.seq - b.seq)
    .map(
      (x) =>
        `<tr><td>${x.seq}</td><td>${e(x.kind)}</td><td>${e(money(x.amount, unit))}</td><td>${e(
          held(Number(x.held ?? 0), unit),
        )}</td><td><code>${e(x.jobId ? `${x.jobId.slice(0, 12)}…` : "")}</code></td><td>${e(
          money(Number(x.balance ?? 0), unit),
        )}</td></tr>`,
    )
    .join("");
  return `<p>Credited ${e(money(s.ledger.credited, unit))}; charged ${e(money(s.ledger.charged, unit))} for
${s.renders.length} requests; balance ${e(money(s.ledger.balance, unit))}.</p>
<table><tr><th>#</th><th>entry</th><th>amount</th><th>hold</th><th>job</th><th>balance</th></tr>${rows}</table>`;
}

const STYLE = `body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .5em;font-size:.9em}
.row{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}figure{margin:0}img{max-width:320px;
image-rendering:auto;border:1px solid #ddd}.small img{max-width:160px}.grid img{max-width:min(100%,1024px)}figcaption{font-size:.85em}code{font-size:.85em}`;

export function renderHtml(s: DemoSummary, p: ReportPictures): string {
  const first = s.renders[0];
  const cached = s.renders.slice(1);
  const finals = cached
    .map((r) => {
      const img = r.images.find((i) => i.kind === "final_image");
      return img
        ? `<figure><a href="${e(img.file)}"><img src="${e(img.file)}" alt="${e(r.label)}"></a><figcaption>${e(
            r.label,
          )}: ${r.width}×${r.height}, ${r.dispatched ? "rendered" : "from cache"}</figcaption></figure>`
        : "";
    })
    .join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>accdiff demo</title><style>${STYLE}</style></head><body>
<h1>accdiff demo: AccDiffusion v2 on the toy world</h1>
<p>Prompt <b>“${e(s.prompt)}”</b>, seed ${s.seed}, ${s.steps} steps, bundle <code>${e(s.bundle.name)}</code>
(${e(s.bundle.hash)}, base ${s.bundle.baseResolution} px). The stack started in ${seconds(s.timingsMs.startup)} s; the
requests took ${seconds(s.timingsMs.renders)} s.</p>
<h2>Requests</h2>${rendersTable(s)}
<p>The runner accepted ${s.runner.jobsAccepted.length} job(s): every other request was answered by the cache.</p>
<h2>Final image (${first ? `${first.width}×${first.height}` : ""})</h2>
${p.final ? `<a href="${e(p.final)}"><img src="${e(p.final)}" alt="final" style="max-width:640px"></a>` : ""}
<h2>Phases and canny maps</h2>${phasesSection(p)}
<h2>Attention masks per token (phase 1)</h2>
<p>Each word's mask over the low-res image; a window's prompt keeps the words whose mask covers enough of it.</p>
${attentionSection(p)}
<h2>Patch grids with their prompts</h2>${patchesSection(p)}
<h2>Model evaluations of the ${e(first?.label ?? "")} render</h2>${first ? evaluationsTable(first) : ""}
<h2>Answered from cache</h2><div class="row">${finals}</div>
<h2>Ledger (GET /v1/usage)</h2>${ledgerSection(s)}
</body></html>
`;
}
