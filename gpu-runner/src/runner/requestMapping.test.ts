import {
  pipelineNames,
  type ResolvedRequest,
  ResolvedRequestSchema,
  referenceQuirks,
  resolveRequest,
  SWITCH_DEFAULTS,
} from "@accdiff/shared";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SDXL_SCHEDULER_CONFIG } from "../models/sdxlScheduler";
import type { BundleInfo } from "../models/types";
import { resolveParams } from "../pipeline/index";
import { SWITCH_TO_PIPELINE, toPipelineRequest } from "./requestMapping";

const info: BundleInfo = {
  name: "t",
  version: "1",
  hash: "h",
  baseResolution: 1024,
  vaeScaleFactor: 8,
  latentChannels: 4,
  vaeScalingFactor: 0.13025,
  dtype: "fp32",
  scheduler: { ...SDXL_SCHEDULER_CONFIG },
  attentionDivisor: 32,
  textEmbedDim: 2048,
  pooledDim: 1280,
  maxTokens: 77,
};

const switchNames = Object.keys(SWITCH_DEFAULTS) as (keyof typeof SWITCH_DEFAULTS)[];

const arbRequest = fc.record({
  seed: fc.integer({ min: 0, max: 0xffffffff }),
  steps: fc.integer({ min: 1, max: 150 }),
  guidanceScale: fc.double({ min: 1.5, max: 50, noNaN: true }),
  multiGuidanceScale: fc.double({ min: 1.5, max: 50, noNaN: true }),
  cosineScale1: fc.double({ min: 0, max: 100, noNaN: true }),
  cosineScale2: fc.double({ min: 0, max: 100, noNaN: true }),
  cosineScale3: fc.double({ min: 0, max: 100, noNaN: true }),
  sigma: fc.double({ min: 0.01, max: 10, noNaN: true }),
  stride: fc.option(fc.integer({ min: 8, max: 128 }), { nil: undefined }),
  c: fc.double({ min: 0, max: 1, noNaN: true }),
  cannySigma: fc.double({ min: 0, max: 1, noNaN: true }),
  controlnetConditioningScale: fc.double({ min: 0, max: 5, noNaN: true }),
  controlGuidanceStart: fc.double({ min: 0, max: 0.5, noNaN: true }),
  controlGuidanceEnd: fc.double({ min: 0.5, max: 1, noNaN: true }),
  viewBatchSize: fc.integer({ min: 1, max: 64 }),
  switches: fc.record(
    Object.fromEntries(switchNames.map((k) => [k, fc.boolean()])) as Record<string, fc.Arbitrary<boolean>>,
  ),
  referenceCompat: fc.boolean(),
});

describe("toPipelineRequest", () => {
  it("carries every parameter and switch into the pipeline's resolved parameters", () => {
    fc.assert(
      fc.property(arbRequest, (input) => {
        const r = resolveRequest({ prompt: "a cat", negativePrompt: "dull", width: 2048, height: 1536, ...input });
        const p = resolveParams(info, toPipelineRequest(r));
        expect(p).toMatchObject({
          prompt: "a cat",
          negativePrompt: "dull",
          width: 2048,
          height: 1536,
          seed: r.seed,
          steps: r.steps,
          guidanceScale: r.guidanceScale,
          multiGuidanceScale: r.multiGuidanceScale,
          cosineScale1: r.cosineScale1,
          cosineScale2: r.cosineScale2,
          cosineScale3: r.cosineScale3,
          sigma: r.sigma,
          patchThreshold: r.c,
          cannySigma: r.cannySigma,
          controlnetConditioningScale: r.controlnetConditioningScale,
          controlGuidanceStart: r.controlGuidanceStart,
          controlGuidanceEnd: r.controlGuidanceEnd,
          viewBatchSize: r.viewBatchSize,
          quirks: referenceQuirks(r.referenceCompat),
          // null stride: half of the bundle's window (128 latent pixels for a 1024-px base).
          stride: r.stride ?? 64,
        });
        for (const k of switchNames) expect(p[SWITCH_TO_PIPELINE[k]]).toBe(r.switches[k]);
      }),
      { numRuns: 200 },
    );
  });

  it("maps each switch to a distinct pipeline switch and covers every request field", () => {
    expect(new Set(Object.values(SWITCH_TO_PIPELINE)).size).toBe(switchNames.length);
    expect(Object.keys(SWITCH_TO_PIPELINE).sort()).toEqual([...switchNames].sort());
    // Fields that are not the pipeline's business: output encoding, bundle choice, the image reference (decoded
    // separately and passed as initImage), and c (renamed patchThreshold).
    const notMappedByName = new Set(["format", "bundle", "image", "c", "switches"]);
    const r = resolveRequest({ prompt: "x", width: 1024, height: 1024, seed: 1 });
    const mapped = toPipelineRequest(r) as unknown as Record<string, unknown>;
    for (const k of Object.keys(ResolvedRequestSchema.shape)) {
      if (notMappedByName.has(k) || k === "stride") continue;
      expect(mapped[k], k).toBe((r as unknown as Record<string, unknown>)[k]);
    }
    expect(mapped.stride).toBeUndefined();
  });

  it("maps every table field onto a pipeline parameter, and both sides default alike", () => {
    const r = resolveRequest({ prompt: "x", width: 1024, height: 1024, seed: 1 });
    const mapped = toPipelineRequest(r);
    const params = resolveParams(info, mapped) as unknown as Record<string, unknown>;
    for (const [field, name] of pipelineNames()) {
      if (field === "referenceCompat") continue; // resolved into params.quirks
      expect(Object.keys(params), `${field} -> ${name}`).toContain(name);
    }
    // A pipeline call that gives nothing gets the API's defaults (the seed aside: the API draws one).
    const bare = resolveParams(info, { prompt: "x", width: 1024, height: 1024 });
    expect({ ...bare, seed: 1 }).toEqual({ ...resolveParams(info, mapped), seed: 1 });
  });

  it("passes the decoded image as the pipeline's initImage and insists on it when the request names one", () => {
    const r: ResolvedRequest = {
      ...resolveRequest({ prompt: "x", width: 2048, height: 2048, seed: 1 }),
      image: { sha256: "0".repeat(64), width: 8, height: 8 },
    };
    expect(() => toPipelineRequest(r)).toThrow(/image/);
    const img = { data: new Uint8Array(8 * 8 * 3), width: 8, height: 8 };
    expect(toPipelineRequest(r, img).initImage).toBe(img);
  });
});
