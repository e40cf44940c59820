/**
 * The generate command's progress on stderr: a bar redrawn in place on a terminal (phase, step, percent, ETA), plain
 * lines when stderr is a file or a pipe (one per phase start and per 10%, so logs stay short).
 */
import type { ProgressEvent } from "../pipeline/index";

/** "1:05", "12:00:03"; "--:--" when unknown. */
export function formatDuration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return "--:--";
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** One status line: "phase 2/3 step 14/50 [#####-----]  45.2%  ETA 1:05". */
export function formatProgress(e: ProgressEvent, phases: number, barWidth = 24): string {
  const filled = Math.round((Math.min(100, Math.max(0, e.percent)) / 100) * barWidth);
  const bar = `[${"#".repeat(filled)}${"-".repeat(barWidth - filled)}]`;
  const pct = `${e.percent.toFixed(1).padStart(5)}%`;
  return `phase ${e.phase}/${phases} step ${e.step}/${e.steps} ${bar} ${pct}  ETA ${formatDuration(e.etaMs)}`;
}

export interface ProgressSink {
  write(s: string): unknown;
  isTTY?: boolean;
}

export interface ProgressReporter {
  update(e: ProgressEvent): void;
  /** Ends the bar (a newline after the in-place line). */
  done(): void;
}

export function progressReporter(
  out: ProgressSink,
  phases: number,
  now: () => number = () => Date.now(),
): ProgressReporter {
  let lastDraw = 0;
  let drawn = false;
  let lastPhase = -1;
  let lastDecile = -1;
  let latest: ProgressEvent | null = null;
  const tty = out.isTTY === true;
  return {
    update(e) {
      latest = e;
      if (tty) {
        // At most ~10 redraws a second, and always the step that finishes a phase.
        if (now() - lastDraw < 100 && e.step !== e.steps) return;
        lastDraw = now();
        drawn = true;
        out.write(`\r\x1b[2K${formatProgress(e, phases)}`);
        return;
      }
      const decile = Math.floor(e.percent / 10);
      if (e.phase !== lastPhase || decile !== lastDecile) {
        lastPhase = e.phase;
        lastDecile = decile;
        out.write(`${formatProgress(e, phases)}\n`);
      }
    },
    done() {
      if (tty && drawn) {
        if (latest) out.write(`\r\x1b[2K${formatProgress(latest, phases)}`);
        out.write("\n");
      }
    },
  };
}
