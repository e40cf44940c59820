import type { RunnerEvent } from "@accdiff/shared";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { admit, newSeqState, type SeqState } from "./sequence";

const ev = (seq: number, attempt = 1): RunnerEvent => ({
  jobId: "job-00000001",
  attempt,
  seq,
  at: "2026-01-01T00:00:00.000Z",
  type: "progress",
  phase: 1,
  step: seq,
  steps: 100,
  percent: 0,
});

describe("admit", () => {
  it("applies every event exactly once, in sequence order, whatever the arrival order and duplication", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }).chain((n) =>
          fc.tuple(
            fc.constant(n),
            fc.shuffledSubarray(
              Array.from({ length: 3 * n }, (_, i) => i % n),
              { minLength: 3 * n, maxLength: 3 * n },
            ),
          ),
        ),
        ([n, arrivals]) => {
          let seq: SeqState = newSeqState(1);
          const applied: number[] = [];
          for (const s of arrivals) {
            const r = admit(seq, ev(s));
            seq = r.seq;
            if (r.admission.kind === "apply") applied.push(...r.admission.events.map((e) => e.seq));
            else expect(["buffered", "duplicate"]).toContain(r.admission.kind);
          }
          expect(applied).toEqual(Array.from({ length: n }, (_, i) => i));
          expect(seq.next).toBe(n);
          expect(Object.keys(seq.pending)).toHaveLength(0);
        },
      ),
    );
  });

  it("refuses superseded and undispatched attempts, and gaps beyond the buffer", () => {
    const seq = newSeqState(2);
    expect(admit(seq, ev(0, 1)).admission.kind).toBe("stale");
    expect(admit(seq, ev(0, 3)).admission.kind).toBe("unknown-attempt");
    expect(admit(seq, ev(5, 2), 4).admission.kind).toBe("overflow");
    expect(admit(seq, ev(3, 2), 4).admission.kind).toBe("buffered");
  });

  it("does not modify the state it is given", () => {
    const seq = newSeqState(1);
    admit(seq, ev(1));
    admit(seq, ev(0));
    expect(seq).toEqual(newSeqState(1));
  });
});
