/**
 * Console progress of a followed job: phase, step and overall percent from the job's public representation. On a
 * terminal one line is rewritten in place; elsewhere (CI logs, pipes) a line is printed when the status or the phase
 * changes and at each quarter of a phase's steps, so logs stay short.
 */
import type { JobView } from "./api";

export function progressLine(v: Pick<JobView, "status" | "phases" | "progress" | "request">): string {
  const p = v.progress;
  if (p.phase === null || p.step === null || p.steps === null) return `${v.status}`;
  const last = v.phases[v.phases.length - 1] ?? 1;
  const w = Math.round((v.request.width * p.phase) / last);
  const h = Math.round((v.request.height * p.phase) / last);
  const eta = p.etaMs !== null && v.status === "running" ? `, about ${Math.ceil(p.etaMs / 1000)} s left` : "";
  return (
    `${v.status}: phase ${p.phase}/${last} (${w}x${h}) step ${p.step}/${p.steps}, ` +
    `${p.percent.toFixed(0)}% overall${eta}`
  );
}

export class ProgressPrinter {
  private lastLine = "";
  private lastKey = "";

  constructor(
    private readonly out: NodeJS.WriteStream = process.stdout,
    private readonly interactive = Boolean(process.stdout.isTTY),
  ) {}

  update(v: JobView): void {
    const line = progressLine(v);
    if (line === this.lastLine) return;
    this.lastLine = line;
    if (this.interactive) {
      this.out.write(`\r\x1b[2K  ${line}`);
      return;
    }
    const p = v.progress;
    const quarter = p.step !== null && p.steps ? Math.floor((4 * p.step) / p.steps) : -1;
    const key = `${v.status}/${p.phase}/${quarter}`;
    if (key === this.lastKey) return;
    this.lastKey = key;
    this.out.write(`  ${line}\n`);
  }

  /** Ends the in-place line (call before printing anything else). */
  done(): void {
    if (this.interactive && this.lastLine) this.out.write("\n");
    this.lastLine = "";
    this.lastKey = "";
  }
}
