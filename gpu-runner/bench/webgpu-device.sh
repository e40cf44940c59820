#!/usr/bin/env bash
# NEVER RUN HERE: prepared for a machine with a GPU (the `device` tool of a task that is lent one). No task so far
# has run it; nothing in the project depends on it, and its figures are not in RESULTS.md.
#
# Runs `bench:backend`'s fused path ("after") on onnxruntime-node's WebGPU execution provider (the only GPU provider
# the npm package installs without the CUDA download) and records what it saw into $OUT (or ./webgpu-bench):
# the GPU, whether a WebGPU session could be created at all, and one JSON line per size. The CPU provider's
# before/after at the same sizes runs in the same call, so both sets of figures come from the same machine.
#
#   bash gpu-runner/bench/webgpu-device.sh        (from the repository root; ~3-6 minutes)
set -u
out="${OUT:-./webgpu-bench}"
mkdir -p "$out"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || echo "no nvidia-smi"; } > "$out/gpu.txt"
{ vulkaninfo --summary 2>&1 | head -40 || echo "no vulkaninfo"; } > "$out/vulkan.txt"
[ -d node_modules ] || npm ci --ignore-scripts > "$out/npm.txt" 2>&1
node -e 'const o=require("onnxruntime-node");console.log(JSON.stringify(o.listSupportedBackends()))' > "$out/backends.json" 2>&1
# WebGPU first (the point of the run), then the CPU baseline on the same machine.
timeout 240 npx tsx gpu-runner/bench/backend.ts --provider webgpu --paths after --sizes 2048,4096 --steps 3 \
  > "$out/webgpu.jsonl" 2> "$out/webgpu.stderr.txt"
echo "webgpu rc=$?" >> "$out/status.txt"
timeout 240 npx tsx gpu-runner/bench/backend.ts --provider cpu --paths after --sizes 2048,4096 --steps 3 \
  > "$out/cpu.jsonl" 2> "$out/cpu.stderr.txt"
echo "cpu rc=$?" >> "$out/status.txt"
cat "$out/status.txt" "$out/webgpu.jsonl" "$out/cpu.jsonl"
