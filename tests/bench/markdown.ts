/** The benchmark's figures as Markdown tables (out/bench/bench.md), for reading and for the README's record. */
import type { EvalCounts } from "./evalCounts";
import type { EvaluationFigures } from "./evaluations";
import type { LoadResult } from "./load";
import type { OverheadFigures } from "./pipelineOverhead";
import type { WorkerFigures } from "./workerLoad";

const KINDS: [keyof EvalCounts, string][] = [
  ["unetCalls", "UNet calls"],
  ["unetSamples", "UNet samples"],
  ["controlnetCalls", "ControlNet calls"],
  ["controlnetSamples", "ControlNet samples"],
  ["textEncodings", "text encodings"],
  ["vaeDecodes", "VAE decodes"],
];

function table(head: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

export function overheadMarkdown(f: OverheadFigures): string {
  return table(
    [
      "size",
      "ControlNet",
      "last phase ms/step (min / median)",
      "CPU ms/step (min)",
      "all non-model ms / step",
      "peak RSS MB",
    ],
    f.configurations.map((c) => [
      `${c.size}²`,
      c.controlnet ? "on" : "off",
      `${c.lastPhase.wallMs.min} / ${c.lastPhase.wallMs.median}`,
      c.lastPhase.cpuMs.min,
      c.pipelineMsPerStepIncludingPhaseWork,
      c.peakRssMB,
    ]),
  );
}

export function evaluationsMarkdown(f: EvaluationFigures): string {
  const rows: (string | number)[][] = [];
  for (const r of f.table) {
    rows.push([
      `${r.size}²`,
      r.config,
      ...KINDS.map(([k]) =>
        k === "textEncodings" && r.oursTextEncodingsAtMost !== r.ours[k]
          ? `${r.ours[k]} (≤ ${r.oursTextEncodingsAtMost}) / ${r.reference[k]}`
          : `${r.ours[k]} / ${r.reference[k]}`,
      ),
      r.referenceEncodePromptCalls,
      r.compatMatchesReference === null ? "-" : r.compatMatchesReference ? "yes" : "NO",
    ]);
  }
  const head = ["size", "config", ...KINDS.map(([, l]) => `${l} (ours / ref)`), "ref encode_prompt", "compat = ref"];
  return table(head, rows);
}

export function cacheMarkdown(f: EvaluationFigures): string {
  const head = [
    "scenario",
    "path",
    "cached phases",
    "UNet calls saved",
    "UNet samples saved",
    "ControlNet samples saved",
    "VAE decodes saved",
    "UNet samples still run",
  ];
  return table(
    head,
    f.cache.map((c) => {
      const of = (k: keyof EvalCounts) => `${c.savings.saved[k]} of ${c.savings.uncached[k]}`;
      return [
        c.name,
        c.path.kind === "resume" ? `resume after phase ${c.path.resumeFrom}` : c.path.kind,
        c.path.cachedPhases.join(", "),
        of("unetCalls"),
        of("unetSamples"),
        of("controlnetSamples"),
        of("vaeDecodes"),
        c.savings.runs.unetSamples,
      ];
    }),
  );
}

export function workerMarkdown(f: WorkerFigures): string {
  const row = (name: string, r: LoadResult) => [
    name,
    Object.entries(r.statuses)
      .map(([s, n]) => `${n}×${s}`)
      .join(" "),
    r.errors,
    r.latencyMs.p50,
    r.latencyMs.p95,
    r.latencyMs.max,
    r.reqPerSec,
  ];
  return table(
    ["operation", "answers", "errors", "p50 ms", "p95 ms", "max ms", "req/s"],
    [
      row("create (cache hit)", f.create_cacheHit),
      row("status", f.status),
      row("download", f.download),
      row("create (miss)", f.create_miss),
    ],
  );
}
