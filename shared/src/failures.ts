/**
 * Why a job failed, as a stable code a client can switch on and a sentence a user can read. The runner names the
 * code of its own failures (the `failed` event's `code`); the worker names those it sees itself (a runner that went
 * silent, no runner at all). The internal text (an exception message, a path, a model's complaint) never reaches the
 * job's `error`: it goes to the logs and to the job view's `debug` field.
 */
export const FAILURE_CODES = [
  "unsupported_size",
  "invalid_request",
  "input_unavailable",
  "out_of_memory",
  "model_error",
  "upload_failed",
  "runner_lost",
  "no_runner",
  "cancelled_by_runner",
  "internal",
] as const;
export type FailureCode = (typeof FAILURE_CODES)[number];

/** The user-facing sentence of each code. */
export const FAILURE_MESSAGES: Record<FailureCode, string> = {
  unsupported_size: "This size cannot be rendered with these settings; try another size or turn referenceCompat off.",
  invalid_request: "The renderer refused a parameter of this request.",
  input_unavailable: "The input image (or a cached phase) could not be fetched by the renderer.",
  out_of_memory: "The renderer ran out of GPU memory; try a smaller size or a smaller viewBatchSize.",
  model_error: "The model failed while rendering this image.",
  upload_failed: "The renderer could not store the results.",
  runner_lost: "The renderer stopped responding and the job could not be finished.",
  no_runner: "No renderer was available to take the job.",
  cancelled_by_runner: "The renderer cancelled the job.",
  internal: "The job failed because of an internal error.",
};

const PATTERNS: [RegExp, FailureCode][] = [
  [
    /out of memory|bad_alloc|CUDA_ERROR_OUT_OF_MEMORY|Failed to allocate memory|cudaErrorMemoryAllocation/i,
    "out_of_memory",
  ],
  [/UnsupportedSizeError|cannot reproduce \d+x\d+|sizes need max\(width, height\)/, "unsupported_size"],
  [/could not download/, "input_unavailable"],
  [/could not upload/, "upload_failed"],
  [/lease expired|went silent|shutting down|runner (?:lost|restarted)/i, "runner_lost"],
  [/no runner accepted/, "no_runner"],
  [/model\.onnx|onnxruntime|replicate:|contract says/i, "model_error"],
];

/** The code of a failure known only by its text (an older runner, Replicate): the first pattern that matches. */
export function failureCodeOf(reason: string): FailureCode {
  for (const [re, code] of PATTERNS) if (re.test(reason)) return code;
  return "internal";
}
