/**
 * The "What it shows" section of results.md: per claim, the measured outcome and why the toy world behaves so.
 */
import type { ResultsJson } from "./report";

export function notesFor(r: ResultsJson): string {
  const out: string[] = [];
  for (const c of r.claims) {
    out.push(
      `- Experiment ${c.experiment}, ${c.claim}: ${c.holds ? "holds" : "**does not hold**"} ` +
        `(${c.test}: ${c.means[0].toFixed(2)} vs ${c.means[1].toFixed(2)}, on ${c.seedWins} of ${c.seeds} seeds).`,
    );
  }
  return out.join("\n");
}
