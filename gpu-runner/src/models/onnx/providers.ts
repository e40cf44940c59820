/**
 * Execution-provider choice for onnxruntime-node, with no silent fallback.
 *
 * onnxruntime-node 1.30 bundles the cpu and webgpu providers; the CUDA provider libraries are
 * downloaded by its install script only when asked (ONNXRUNTIME_NODE_INSTALL=cuda12; our .npmrc
 * skips it so that installs work anywhere, Dockerfile.gpu opts in). `listSupportedBackends()`
 * lists cuda as `bundled: false` either way, so availability is decided by the provider library
 * being on disk. Note that onnxruntime-node throws when any listed provider fails to load, even
 * with `["cuda", "cpu"]`, which is why "auto" probes explicitly.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as ort from "onnxruntime-node";

export type ProviderRequest = "cpu" | "cuda" | "webgpu" | "auto";
export type ProviderName = "cpu" | "cuda" | "webgpu";

export const CUDA_INSTALL_HINT =
  "reinstall onnxruntime-node with its CUDA 12 provider: ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci " +
  "(or npm ci --onnxruntime-node-install=cuda12; Dockerfile.gpu does this), with an NVIDIA driver, " +
  'CUDA 12 and cuDNN 9 libraries on the library path; or choose provider "cpu"';

/** Thrown when a requested execution provider cannot be used; says how to fix it. */
export class ProviderUnavailableError extends Error {
  constructor(
    readonly provider: ProviderName,
    message: string,
  ) {
    super(message);
    this.name = "ProviderUnavailableError";
  }
}

/** onnxruntime-node's native folder for this platform (where provider libraries are installed). */
export function ortBinaryDir(): string {
  const require = createRequire(import.meta.url);
  const pkg = dirname(require.resolve("onnxruntime-node/package.json"));
  return join(pkg, "bin", "napi-v6", process.platform, process.arch);
}

function cudaLibraryName(): string {
  return process.platform === "win32" ? "onnxruntime_providers_cuda.dll" : "libonnxruntime_providers_cuda.so";
}

/** Whether the CUDA provider can be attempted: listed by the binding and its library on disk. */
export function cudaProviderInstalled(binDir = ortBinaryDir()): { installed: boolean; why: string } {
  const listed = ort.listSupportedBackends().some((b) => b.name === "cuda");
  if (!listed)
    return {
      installed: false,
      why: `this onnxruntime-node build (${process.platform}/${process.arch}) has no CUDA provider`,
    };
  const lib = join(binDir, cudaLibraryName());
  if (!existsSync(lib))
    return { installed: false, why: `the CUDA provider library is not installed (${lib} is missing)` };
  return { installed: true, why: `found ${lib}` };
}

/** The executionProviders entry for a provider. */
export function executionProviders(
  provider: ProviderName,
  deviceId?: number,
): ort.InferenceSession.ExecutionProviderConfig[] {
  if (provider === "cuda") return [deviceId === undefined ? "cuda" : { name: "cuda", deviceId }];
  if (provider === "webgpu") return ["webgpu"];
  return ["cpu"];
}

/** Throws a ProviderUnavailableError naming the fix when CUDA is requested but not installed. */
export function assertCudaInstalled(binDir?: string): void {
  const cuda = cudaProviderInstalled(binDir);
  if (!cuda.installed) {
    throw new ProviderUnavailableError(
      "cuda",
      `CUDA execution provider requested, but ${cuda.why}. Fix: ${CUDA_INSTALL_HINT}.`,
    );
  }
}

/** Wraps an onnxruntime session-creation failure with the provider and a fix. */
export function providerFailure(provider: ProviderName, file: string, cause: unknown): Error {
  const msg = cause instanceof Error ? cause.message : String(cause);
  if (provider === "cuda") {
    return new ProviderUnavailableError(
      "cuda",
      `CUDA execution provider failed for ${file}: ${msg}. Fix: ${CUDA_INSTALL_HINT}.`,
    );
  }
  if (provider === "webgpu") {
    return new ProviderUnavailableError(
      "webgpu",
      `WebGPU execution provider failed for ${file}: ${msg}. Fix: a GPU with Vulkan (Linux) / D3D12 / Metal drivers, or choose provider "cpu"`,
    );
  }
  return new Error(`onnxruntime could not load ${file} on ${provider}: ${msg}`);
}
