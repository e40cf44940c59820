import { describe, expect, it } from "vitest";
import type { PhaseCalls } from "../pipeline/index";
import { emptyPhaseCalls } from "../pipeline/modelCalls";
import { protocolPhase } from "./artifacts";
import { modelEvaluations } from "./outcome";
import { pipelinePhaseId } from "./resumeState";

const calls = (over: Partial<PhaseCalls>): PhaseCalls => ({ ...emptyPhaseCalls(), ...over });

describe("outcome mapping", () => {
  it("counts calls and samples per protocol phase", () => {
    const out = modelEvaluations({
      1: calls({ unetBatchSizes: [2, 2, 2], encodeTextCalls: 2, vaeDecodeCalls: 1 }),
      2: calls({ unetBatchSizes: [18, 8], controlnetBatchSizes: [18], vaeDecodeCalls: 4, encodeTextCalls: 3 }),
    });
    expect(out).toEqual({
      "1": { unetCalls: 3, unetSamples: 6, controlnetCalls: 0, controlnetSamples: 0, textEncodings: 2, vaeCalls: 1 },
      "2": { unetCalls: 2, unetSamples: 26, controlnetCalls: 1, controlnetSamples: 18, textEncodings: 3, vaeCalls: 4 },
    });
  });

  it("reports an image start's encode (id 0) and scale-1 refinement (id 1) together as phase 1", () => {
    const out = modelEvaluations({
      0: calls({ unetBatchSizes: [2, 2, 2], vaeEncodeCalls: 1, vaeDecodeCalls: 1 }),
      1: calls({ unetBatchSizes: [4], controlnetBatchSizes: [4], vaeDecodeCalls: 1 }),
    });
    expect(Object.keys(out)).toEqual(["1"]);
    expect(out["1"]).toMatchObject({ unetCalls: 4, unetSamples: 10, controlnetCalls: 1, vaeCalls: 3 });
  });

  it("maps phase ids both ways", () => {
    expect([0, 1, 2, 3].map(protocolPhase)).toEqual([1, 1, 2, 3]);
    expect(pipelinePhaseId(1, true)).toBe(0);
    expect(pipelinePhaseId(1, false)).toBe(1);
    expect(pipelinePhaseId(3, true)).toBe(3);
  });
});
