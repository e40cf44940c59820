/**
 * Cache keys: SHA-256 of the canonical JSON of everything a result depends on, one function per cache level.
 * Level 1 (phase 1: low-res latents, image, attention maps, tokens) depends on the bundle, the texts, the seed and the
 * sampling parameters, and on the base frame (aspect) — not on the final size or any upscale parameter, so a 2048 and
 * a 4096 render share it. Level k (upscaling phase k) adds every upscale parameter and k.
 */
import { fieldsAtCacheLevel, type ParameterName } from "./parameters";
import { referenceQuirks } from "./referenceQuirks";
import type { ResolvedRequest } from "./request";

/** JSON with object keys sorted recursively; numbers as JSON writes them; undefined fields dropped. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") {
    if (typeof value === "number" && !Number.isFinite(value)) throw new Error("canonicalJson: non-finite number");
    return JSON.stringify(value) ?? "null";
  }
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

export async function sha256Hex(data: string | Uint8Array): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  let s = "";
  for (const b of d) s += b.toString(16).padStart(2, "0");
  return s;
}

/** Reduced aspect ratio "w:h" (the phase-1 frame depends on the aspect only). */
export function aspectOf(width: number, height: number): string {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const g = gcd(width, height);
  return `${width / g}:${height / g}`;
}

/** How a field enters a key when not as its value (parameters.ts lists which level each field keys). */
function keyValue(k: ParameterName, r: ResolvedRequest, bundleHash: string): unknown {
  if (k === "bundle") return bundleHash; // the chosen bundle by content, not by name
  if (k === "image") return r.image?.sha256 ?? null; // phase 1 is the image
  return r[k as keyof ResolvedRequest];
}

/**
 * Everything phase 1 depends on: every "phase1" field of the parameter table (so a new one cannot be forgotten), the
 * scheduler and the aspect of the base frame. With an uploaded image, phase 1 is that image (its hash) and the prompt.
 */
export function phase1Inputs(bundleHash: string, r: ResolvedRequest) {
  const fields = Object.fromEntries(fieldsAtCacheLevel("phase1").map((k) => [k, keyValue(k, r, bundleHash)]));
  return {
    level: 1,
    ...fields,
    scheduler: "euler-discrete",
    aspect: aspectOf(r.width, r.height),
    // The reference conditions every phase on the final size (SDXL time ids), so in compat mode nothing is shared
    // across final sizes; by default each phase is conditioned on its own size and phase 1 depends on the aspect only.
    ...(referenceQuirks(r.referenceCompat).finalSizeTimeIds ? { finalSize: [r.width, r.height] } : {}),
  };
}

export function phase1CacheKey(bundleHash: string, r: ResolvedRequest): Promise<string> {
  return sha256Hex(canonicalJson(phase1Inputs(bundleHash, r)));
}

/**
 * Everything an upscaling phase depends on beyond phase 1 (every "upscale" field of the parameter table). The final
 * size matters only through the phase plan:
 * phase k of a render is the same for every final size whose plan has the same phase-k size, which `phaseSize`
 * encodes (the worker passes the size of phase k).
 */
export function upscaleInputs(r: ResolvedRequest) {
  return Object.fromEntries(fieldsAtCacheLevel("upscale").map((k) => [k, keyValue(k, r, "")]));
}

/**
 * Level k key: the phase-1 key, every upscale parameter, the phase index and its size, and the key of phase k-1
 * (phase k upsamples phase k-1's output, so the chain is part of the identity).
 */
export function phaseCacheKey(
  phase1Key: string,
  previousKey: string,
  r: ResolvedRequest,
  phase: number,
  size: { width: number; height: number },
): Promise<string> {
  return sha256Hex(
    canonicalJson({ level: phase, phase1: phase1Key, previous: previousKey, upscale: upscaleInputs(r), size }),
  );
}
