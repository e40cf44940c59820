/** What the CLI and the server need from the models layer. The pipeline imports only ./types. */
export {
  BUNDLE_FORMAT,
  type BundleJson,
  BundleJsonSchema,
  bundleComponents,
  parseBundleJson,
  readBundleJson,
  toBundleInfo,
} from "./bundleJson";
export { type CheckOptions, type CheckReport, checkBundle, formatCheckReport } from "./checkBundle";
export { CONTRACT } from "./contract";
export { ContractError } from "./onnx/componentSession";
export { loadOnnxModels, type ModelsLogger, type OnnxModels, type OnnxModelsOptions } from "./onnx/onnxModels";
export {
  CUDA_INSTALL_HINT,
  cudaProviderInstalled,
  type ProviderName,
  type ProviderRequest,
  ProviderUnavailableError,
} from "./onnx/providers";
export { type ClipTokenizer, loadClipTokenizer } from "./tokenizer";
export type * from "./types";
