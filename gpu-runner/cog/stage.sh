#!/usr/bin/env bash
# Stages the Cog build context of the runner (see cog.yaml): the runner's and shared's sources, predict.py, and the
# production dependencies with onnxruntime-node's CUDA 12 binaries, as Dockerfile.gpu installs them. Run it on
# Linux x64 (native modules are fetched for the machine that installs them).
#
#   gpu-runner/cog/stage.sh [OUT] [--no-install]     (OUT defaults to out/cog)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/out/cog
install=1
for arg in "$@"; do
  case $arg in
    --no-install) install=0 ;;
    -*) echo "stage.sh: unknown option $arg" >&2; exit 2 ;;
    *) out=$(mkdir -p "$arg" && cd "$arg" && pwd) ;;
  esac
done
if [ "$out" = "$root" ] || { [ -n "$(ls -A "$out" 2>/dev/null)" ] && [ ! -f "$out/cog.yaml" ]; }; then
  echo "stage.sh: $out is not empty and not a staged context; refusing to replace it" >&2
  exit 2
fi
rm -rf "$out"
mkdir -p "$out/shared" "$out/gpu-runner/cog" "$out/worker"
cd "$root"
cp package.json package-lock.json .npmrc "$out/"
cp gpu-runner/cog/cog.yaml "$out/cog.yaml"
cp -r shared/package.json shared/src "$out/shared/"
cp -r gpu-runner/package.json gpu-runner/bin gpu-runner/src "$out/gpu-runner/"
cp gpu-runner/cog/*.py "$out/gpu-runner/cog/"
# npm ci checks the lockfile against every workspace's manifest; nothing of the worker is installed.
cp worker/package.json "$out/worker/"
find "$out" -name '*.test.ts' -delete
if [ "$install" = 1 ]; then
  (cd "$out" && npm ci --omit=dev --ignore-scripts --workspace gpu-runner --workspace shared --no-audit --no-fund \
    && ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js)
fi
echo "staged the Cog build context in $out; next: cd $out && cog push r8.im/<owner>/<model>"
