import { FAILURE_CODES, FAILURE_MESSAGES, failureCodeOf } from "@accdiff/shared";
import { describe, expect, it } from "vitest";
import { debugView, failureView } from "./failureView";

describe("the job view's failure", () => {
  it("shows the code and its sentence, never the internal text; debug keeps the text", () => {
    const error = {
      reason: "/srv/models/unet/model.onnx: Non-zero status code",
      retryable: false,
      code: "model_error" as const,
    };
    expect(failureView(error)).toEqual({
      code: "model_error",
      message: FAILURE_MESSAGES.model_error,
      retryable: false,
    });
    expect(JSON.stringify(failureView(error))).not.toContain("/srv");
    expect(debugView(error)).toEqual({ reason: error.reason });
    expect(failureView(null)).toBeNull();
    expect(debugView(null)).toBeNull();
  });

  it("classifies jobs stored before codes existed by their text", () => {
    const cases: [string, string][] = [
      ["unet/model.onnx: attention_probs has shape [2, 160, 77], contract says [2, 176, 77]", "model_error"],
      ["referenceCompat cannot reproduce 1000x1000 with patch prompts: ...", "unsupported_size"],
      ["runner failed: CUDA out of memory; gave up after 4 attempts", "out_of_memory"],
      ["the runner went silent (lease expired); gave up after 4 attempts", "runner_lost"],
      ["no runner accepted the job: all busy", "no_runner"],
      ["could not download the input image: 404", "input_unavailable"],
      ["could not upload final_image/final.png: 413", "upload_failed"],
      ["something nobody expected", "internal"],
    ];
    for (const [reason, code] of cases) {
      expect(failureCodeOf(reason), reason).toBe(code);
      expect(failureView({ reason, retryable: true })?.code).toBe(code);
    }
    for (const c of FAILURE_CODES) expect(FAILURE_MESSAGES[c].length).toBeGreaterThan(10);
  });
});
