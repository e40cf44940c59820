/** Help texts: `accdiff --help` and `accdiff <command> --help`. */
import { methodFlagHelp, SWITCH_FLAGS } from "./requestFlags";

const METHOD_FLAGS = `Method parameters (defaults: the reference implementation's):
${methodFlagHelp()}
Ablations (every mechanism is on by default):
  ${Object.keys(SWITCH_FLAGS)
    .map((f) => `--no-${f}`)
    .join(", ")}`;

const RUN_FLAGS = `  --bundle DIR                    model bundle (default: the toy world, built on demand)
  --provider cpu|cuda|webgpu|auto execution provider (auto: CUDA when installed, else CPU)
  --device-id N                   CUDA device
  --out DIR                       output folder (default out/accdiff-<time>)
  --quiet                         no progress or notes on stderr`;

export const HELP: Record<string, string> = {
  main: `accdiff — AccDiffusion v2: SDXL to clean 2K-4K images, training-free

Usage:
  accdiff generate --prompt TEXT --size WxH [options]    render, writing every phase, maps and a report
  accdiff upscale --image FILE --prompt TEXT --size WxH  start from an image instead of generating phase 1
  accdiff bundle check DIR [--smoke]                     check a model bundle against the contract
  accdiff serve [--port N] [--bundle DIR] ...            run the GPU runner service (RUNNER_SECRET required)
  accdiff --version | --help | <command> --help

Exit status: 0 done; 2 the command line is wrong (a flag, a value, a size the API refuses, a file or folder a flag
names, a missing setting); 1 a correctly asked run failed (models, provider, a bundle that does not match).
Environment: ACCDIFF_DEBUG=1 prints stack traces of unexpected errors.`,
  generate: `Usage: accdiff generate --prompt TEXT --size WxH [options]

Writes to --out: image.<ext>, phase-<id>.<ext> for every phase, canny/phase-<id>.png, attention/<nn>-<word>.png
(each word's attention mask over the low-res image), patches/phase-<id>.png (each upscaling phase's windows with their
prompts) and report.json (parameters, timings, model evaluations, warnings, files).

  --prompt TEXT, -p               what to draw (required)
  --size WxH, -s                  output size, multiples of 8, any aspect ratio up to 4:1 (required)
${RUN_FLAGS}
${METHOD_FLAGS}`,
  upscale: `Usage: accdiff upscale --image FILE --prompt TEXT --size WxH [options]

Encodes the image as the low-resolution phase (resized to the bundle's base frame when it differs) and runs the
upscaling phases; same outputs as generate (phase-0 is the encoded image).

  --image FILE, -i                PNG, JPEG or WebP (required)
  --prompt TEXT, -p               what the image shows (required: patch prompts and conditioning use it)
  --size WxH, -s                  output size (required)
${RUN_FLAGS}
${METHOD_FLAGS}`,
  bundle: `Usage: accdiff bundle check DIR [--smoke] [--provider cpu|cuda|webgpu] [--verbose]

Checks bundle.json, the tokenizers and every ONNX model's inputs and outputs against the contract
(docs/model-bundle.md); --smoke also runs one UNet call. Exit 1 when the bundle does not match.`,
  serve: `Usage: accdiff serve [options]   (flags override the environment variables in brackets)

  --port N                        [PORT] HTTP port (8080)
  --host ADDR                     [HOST] listen address (0.0.0.0)
  --bundle DIR                    [BUNDLE_DIR] model bundle (default: the toy world)
  --provider cpu|cuda|webgpu|auto [PROVIDER] (auto)
  --device-id N                   [DEVICE_ID] CUDA device
  --queue-capacity N              [QUEUE_CAPACITY] jobs waiting behind the running one (4)
  --state-dir DIR                 [STATE_DIR] job journal, so a restarted runner answers for its jobs
RUNNER_SECRET (environment only) is the HMAC secret shared with the worker. SIGTERM stops taking jobs, hands the
running one back as a retryable failure and exits.`,
};
