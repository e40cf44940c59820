/**
 * Exactly-once, in-order application of runner events. Each attempt numbers its events 0, 1, 2, ...; the JobDO keeps
 * the next expected number and a bounded buffer of early arrivals. A duplicate (same attempt and seq, whatever its
 * nonce) is acknowledged and dropped; an event of a superseded attempt is refused so that a runner that was presumed
 * dead can never complete (or bill) a job a second time.
 */
import type { RunnerEvent } from "@accdiff/shared";

export interface SeqState {
  attempt: number;
  next: number;
  pending: Record<string, RunnerEvent>;
}

export type Admission =
  /** Apply these events in this order: the arrival and every buffered successor it unblocks. */
  | { kind: "apply"; events: RunnerEvent[] }
  | { kind: "duplicate" }
  | { kind: "buffered" }
  /** From an attempt that was superseded by a re-dispatch. */
  | { kind: "stale" }
  /** From an attempt the worker never dispatched. */
  | { kind: "unknown-attempt" }
  /** Too far ahead: the buffer would grow without bound. */
  | { kind: "overflow" };

export const MAX_PENDING = 256;

export function newSeqState(attempt: number): SeqState {
  return { attempt, next: 0, pending: {} };
}

/** Decides what to do with an arrival; returns the new sequencing state (the input is not modified). */
export function admit(
  seq: SeqState,
  event: RunnerEvent,
  maxPending = MAX_PENDING,
): { admission: Admission; seq: SeqState } {
  if (event.attempt < seq.attempt) return { admission: { kind: "stale" }, seq };
  if (event.attempt > seq.attempt) return { admission: { kind: "unknown-attempt" }, seq };
  if (event.seq < seq.next || seq.pending[event.seq] !== undefined) return { admission: { kind: "duplicate" }, seq };
  if (event.seq > seq.next) {
    if (event.seq - seq.next > maxPending || Object.keys(seq.pending).length >= maxPending) {
      return { admission: { kind: "overflow" }, seq };
    }
    return { admission: { kind: "buffered" }, seq: { ...seq, pending: { ...seq.pending, [event.seq]: event } } };
  }
  const events = [event];
  const pending = { ...seq.pending };
  let next = seq.next + 1;
  while (pending[next] !== undefined) {
    events.push(pending[next]);
    delete pending[next];
    next++;
  }
  return { admission: { kind: "apply", events }, seq: { attempt: seq.attempt, next, pending } };
}
