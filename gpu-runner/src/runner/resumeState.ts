/**
 * Rebuilding the pipeline's ResumeState from the artifacts of an earlier attempt (or of the cache), as the worker
 * names them in `job.resume`: the latents and image of the deepest finished phase, phase 1's latents (the
 * renormalisation anchor: mean and unbiased std, exactly as the uninterrupted run computed them), phase 1's
 * aggregated attention maps (patch prompts are re-derived from them) and the prompt's tokens (a consistency check).
 */
import type { Resume } from "@accdiff/shared";
import { decodeImage } from "../images/encode";
import type { AttentionMap, ResumeState } from "../pipeline/index";
import { mean, stdUnbiased } from "../pipeline/tensor/stats";
import { decodeNpy } from "./npy";

/** Resume artifacts that cannot be used: retrying will not help. */
export class ResumeArtifactError extends Error {
  override name = "ResumeArtifactError";
}

/**
 * Pipeline phase id of a protocol phase: the protocol's phase 1 is the base phase, id 0 when it was encoded from the
 * user's image and 1 when generated; upscaling phases are their scale either way.
 */
export function pipelinePhaseId(protocolPhase: number, fromImage: boolean): number {
  return protocolPhase === 1 && fromImage ? 0 : protocolPhase;
}

export interface ResumeInputs {
  resume: Resume;
  fromImage: boolean;
  /** The prompt's tokens as the loaded bundle decodes them (must equal the stored ones). */
  tokens: readonly string[];
  download(keyOrUrl: string): Promise<Uint8Array>;
}

function attentionFrom(bytes: Uint8Array): AttentionMap {
  const a = decodeNpy(bytes);
  if (a.shape.length !== 3) {
    throw new ResumeArtifactError(`attention maps must be [rows, cols, tokens], got [${a.shape.join(", ")}]`);
  }
  const [rows, cols, tokens] = a.shape;
  return { data: a.data, rows, cols, tokens };
}

function parseTokens(bytes: Uint8Array): string[] {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new ResumeArtifactError("the resume tokens are not JSON");
  }
  if (!Array.isArray(v) || !v.every((t) => typeof t === "string")) {
    throw new ResumeArtifactError("the resume tokens must be a JSON array of strings");
  }
  return v;
}

export async function loadResumeState(inp: ResumeInputs): Promise<ResumeState> {
  const { resume, download } = inp;
  const a = resume.artifacts;
  const [latentBytes, imageBytes, attentionBytes, tokenBytes, lowresBytes] = await Promise.all([
    download(a.latents),
    download(a.image),
    download(a.attentionMaps),
    download(a.tokens),
    a.lowresLatents === a.latents ? null : download(a.lowresLatents),
  ]);
  const stored = parseTokens(tokenBytes);
  if (stored.length !== inp.tokens.length || stored.some((t, i) => t !== inp.tokens[i])) {
    throw new ResumeArtifactError(
      "the resume artifacts were made for other tokens than this prompt's (another prompt or tokenizer)",
    );
  }
  const latents = decodeNpy(latentBytes).data;
  const lowres = lowresBytes ? decodeNpy(lowresBytes).data : latents;
  let image: Awaited<ReturnType<typeof decodeImage>>;
  try {
    image = await decodeImage(imageBytes);
  } catch (e) {
    throw new ResumeArtifactError(`the resume image cannot be decoded: ${(e as Error).message}`);
  }
  const attention = attentionFrom(attentionBytes);
  if (attention.tokens < stored.length) {
    throw new ResumeArtifactError(`attention maps have ${attention.tokens} tokens, the prompt ${stored.length}`);
  }
  return {
    phaseId: pipelinePhaseId(resume.fromPhase, inp.fromImage),
    latents,
    image,
    attention,
    // The anchor every upscaling phase renormalises to, computed as phase 1 did (float64 sums, unbiased std).
    anchor: { mean: mean(lowres), std: stdUnbiased(lowres) },
  };
}
