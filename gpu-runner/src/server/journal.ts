/**
 * A small on-disk journal of job records, so that a restarted runner still answers for the jobs it had:
 * finished jobs stay finished (a re-sent job id is not run twice), and jobs that were queued or running when the
 * process died are reported as failed with a retryable reason, which lets the worker re-dispatch them at once.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { JobStatus } from "@accdiff/shared";

export interface JobRecord {
  jobId: string;
  attempt: number;
  status: JobStatus;
  receivedAt: string;
  startedAt?: string;
  finishedAt?: string;
  reason?: string;
  retryable?: boolean;
  phasesCompleted: number[];
  callbackUrl: string;
  /**
   * The worker took this attempt's `completed` event. Until it has, "succeeded" is only the runner's view: the
   * worker still waits, and a newer attempt of the job must run anew (see JobManager.submit).
   */
  completedDelivered?: boolean;
}

export interface Journal {
  load(): JobRecord[];
  save(r: JobRecord): void;
}

export function memoryJournal(): Journal {
  const m = new Map<string, JobRecord>();
  return { load: () => [...m.values()], save: (r) => void m.set(r.jobId, { ...r }) };
}

export function fileJournal(dir: string): Journal {
  mkdirSync(dir, { recursive: true });
  return {
    load() {
      const out: JobRecord[] = [];
      for (const f of readdirSync(dir)) {
        if (!f.endsWith(".json")) continue;
        try {
          out.push(JSON.parse(readFileSync(join(dir, f), "utf8")) as JobRecord);
        } catch {
          // A torn write cannot happen (rename below), but a hand-edited file might be broken: skip it.
        }
      }
      return out;
    },
    save(r) {
      const file = join(dir, `${r.jobId}.json`);
      writeFileSync(`${file}.tmp`, JSON.stringify(r));
      renameSync(`${file}.tmp`, file);
    },
  };
}
