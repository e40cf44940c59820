/**
 * The API refuses up front (shared `sizeIssues` with the request's settings, hence the request schema) exactly the
 * renders the runner refuses before any model call (assertReferenceAttentionGrid on the job the pipeline builds),
 * with the same message: over the size sweep's grid and a dense grid of small sizes, at several bases and attention
 * divisors, with referenceCompat, patch prompts, progressive upscaling and an input image each on and off. No model
 * runs: the runner's check is driven on the job context runAccDiffusion would build.
 */
import {
  type GenerationRequest,
  limitsForBase,
  makeGenerationRequestSchema,
  type RequestLimits,
  resolveParameters,
  SIDE_MULTIPLE,
  sizeIssues,
  sweepLongSides,
  sweepShapes,
} from "@accdiff/shared";
import { describe, expect, it } from "vitest";
import { FakeModels, GOLDEN_FAKE_CONSTANTS, SDXL_SCHEDULER } from "../golden/testing/fakeModels";
import type { Models } from "../models/types";
import { toPipelineRequest } from "../runner/requestMapping";
import { jobPlan } from "./accdiffusion";
import { createJob } from "./job";
import { resolveParams } from "./params";
import { UnsupportedSizeError } from "./phasePlan";
import { assertReferenceAttentionGrid } from "./referenceLimits";

interface Bundle {
  base: number;
  attentionDivisor: number;
}

/** Closed-form models whose bundle declares this base and attention divisor (only `info` is read here). */
function modelsFor(b: Bundle): Models {
  const fake = new FakeModels({ constants: GOLDEN_FAKE_CONSTANTS, sampleSize: 8, scheduler: SDXL_SCHEDULER });
  const info = { ...fake.info, baseResolution: b.base, attentionDivisor: b.attentionDivisor };
  return Object.create(fake, { info: { value: info } }) as Models;
}

const limitsOf = (b: Bundle): RequestLimits => ({ ...limitsForBase(b.base), attentionDivisor: b.attentionDivisor });

/** The request schema of these limits, built once (what resolveRequest builds per call for non-default limits). */
const schemas = new Map<RequestLimits, ReturnType<typeof makeGenerationRequestSchema>>();
function schemaOf(limits: RequestLimits) {
  const known = schemas.get(limits);
  if (known) return known;
  const schema = makeGenerationRequestSchema(limits);
  schemas.set(limits, schema);
  return schema;
}

interface Settings {
  referenceCompat: boolean;
  patchPrompts: boolean;
  progressive: boolean;
  fromImage: boolean;
}

const SETTINGS: Settings[] = [];
for (const referenceCompat of [true, false]) {
  for (const patchPrompts of [true, false]) {
    for (const progressive of [true, false]) {
      for (const fromImage of [false, true]) SETTINGS.push({ referenceCompat, patchPrompts, progressive, fromImage });
    }
  }
}

const TINY_IMAGE = { data: new Uint8Array(8 * 8 * 3), width: 8, height: 8 };

function request(width: number, height: number, s: Settings): GenerationRequest {
  const req: GenerationRequest = { prompt: "a cat and a dog", width, height, steps: 1, seed: 3 };
  req.switches = { patchPrompts: s.patchPrompts, progressiveUpscaling: s.progressive };
  if (s.fromImage) req.image = { sha256: "0".repeat(64), width: 8, height: 8 };
  if (s.referenceCompat) req.referenceCompat = true;
  return req;
}

/** What the runner says about this render before any model call: its refusal's message, or null. */
function runnerRefusal(models: Models, limits: RequestLimits, req: GenerationRequest): string | null {
  // Mapped as the runner maps a job (the API's resolution then toPipelineRequest), compat set after resolving so
  // that the API's own refusal does not stand in front of the runner's.
  const valid = resolveParameters(schemaOf(limits).parse({ ...req, referenceCompat: false }));
  const resolved = { ...valid, referenceCompat: !!req.referenceCompat };
  const pipelineRequest = toPipelineRequest(resolved, req.image ? TINY_IMAGE : undefined);
  const params = resolveParams(models.info, pipelineRequest);
  const ctx = createJob({ models, params, plan: jobPlan(models.info, params), lru: null });
  try {
    assertReferenceAttentionGrid(ctx);
    return null;
  } catch (e) {
    if (e instanceof UnsupportedSizeError) return e.message;
    throw e;
  }
}

/** What the API says: the shared size rule's compat refusal, or null (checked against the request schema too). */
function apiRefusal(limits: RequestLimits, width: number, height: number, s: Settings): string | null {
  const req = request(width, height, s);
  const issues = sizeIssues(width, height, limits, s);
  expect(issues.every((i) => i.path[0] === "referenceCompat")).toBe(true);
  const parsed = schemaOf(limits).safeParse(req);
  expect(parsed.success).toBe(issues.length === 0);
  if (!parsed.success) expect(parsed.error.issues.map((i) => i.message)).toEqual(issues.map((i) => i.message));
  return issues[0]?.message ?? null;
}

/** The sweep's full grid: every shape at every long side. */
function sweepGrid(limits: RequestLimits): [number, number][] {
  const out: [number, number][] = [];
  for (const shape of sweepShapes(limits)) {
    for (const long of sweepLongSides(limits)) {
      const s = shape.at(long);
      out.push([s.width, s.height]);
    }
  }
  return out;
}

/** Every size the API accepts in default mode, on the multiple-of-8 grid. */
function denseGrid(limits: RequestLimits): [number, number][] {
  const out: [number, number][] = [];
  for (let w = SIDE_MULTIPLE; w <= limits.maxSide; w += SIDE_MULTIPLE) {
    for (let h = SIDE_MULTIPLE; h <= limits.maxSide; h += SIDE_MULTIPLE) {
      if (sizeIssues(w, h, limits).length === 0) out.push([w, h]);
    }
  }
  return out;
}

function compare(b: Bundle, sizes: [number, number][], settings: Settings[]): { refused: number; cases: number } {
  const models = modelsFor(b);
  const limits = limitsOf(b);
  let refused = 0;
  let cases = 0;
  for (const [w, h] of sizes) {
    for (const s of settings) {
      const req = request(w, h, s);
      const runner = runnerRefusal(models, limits, req);
      expect(apiRefusal(limits, w, h, s), `${w}x${h} ${JSON.stringify(s)} at base ${b.base}`).toBe(runner);
      if (runner) refused++;
      cases++;
    }
  }
  return { refused, cases };
}

describe("the API refuses exactly the sizes the runner refuses in referenceCompat", () => {
  it("over the size sweep's grid, SDXL and the toy world's bases, every setting", () => {
    for (const b of [
      { base: 1024, attentionDivisor: 32 },
      { base: 512, attentionDivisor: 32 },
      { base: 128, attentionDivisor: 32 },
    ]) {
      const { refused, cases } = compare(b, sweepGrid(limitsOf(b)), SETTINGS);
      // The rule is not vacuous: some compat sizes are refused, and only those (the default mode refuses none).
      expect(refused, `base ${b.base}`).toBeGreaterThan(0);
      expect(refused, `base ${b.base}`).toBeLessThan(cases / 2);
    }
  });

  it("over every accepted size of a small base, and with another attention divisor", () => {
    for (const b of [
      { base: 64, attentionDivisor: 32 },
      { base: 128, attentionDivisor: 16 },
    ]) {
      expect(compare(b, denseGrid(limitsOf(b)), SETTINGS).refused, `base ${b.base}`).toBeGreaterThan(0);
    }
  });

  it("refuses only in compat with patch prompts and a generated phase 1 (SDXL 1032x1032)", () => {
    const b = { base: 1024, attentionDivisor: 32 };
    const limits = limitsOf(b);
    const refusedBy = SETTINGS.filter((s) => apiRefusal(limits, 1032, 1032, s) !== null);
    expect(refusedBy).toEqual(SETTINGS.filter((s) => s.referenceCompat && s.patchPrompts && !s.fromImage));
    const message = apiRefusal(limits, 1032, 1032, refusedBy[0]);
    expect(message).toMatch(/^referenceCompat cannot reproduce 1032x1032 with patch prompts/);
    expect(message).toMatch(/defect of the reference/);
    expect(message).toMatch(/The default mode \(referenceCompat: false\) renders this size/);
  });
});
