/**
 * Every toy-world model loads in onnxruntime-node, has the contract's signature, and computes
 * what the design says (README.md), one model at a time.
 */
import * as ort from "onnxruntime-node";
import { beforeAll, describe, expect, it } from "vitest";
import { bundleComponents, componentPath, readBundleJson } from "../models/bundleJson";
import { checkSignature, signatureOf } from "../models/signatureCheck";
import { trainSigmas } from "../pipeline/scheduler";
import { KIND_BOS, KIND_EOS, KIND_OTHER, POOLED_NAMES_ANY, TE1_THING, TE2_BAG } from "./features";
import { ensureToyWorld } from "./index";
import * as kit from "./testkit";
import {
  D1,
  MAX_TOKENS,
  NUM_THINGS,
  RESIDUAL_CHANNELS,
  SCHEDULER,
  sigmaTable,
  TEXT_LAYERS,
  THINGS,
  thingLatents,
  VAE_SCALING_FACTOR,
} from "./world";

let dir = "";
let s: kit.ToySessions;
beforeAll(async () => {
  dir = await ensureToyWorld();
  s = await kit.loadToyWorld(dir);
});

const latentsOf = (h: number, w: number, paint: (y: number, x: number) => number) => {
  const L = thingLatents();
  const out = new Float32Array(4 * h * w);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) for (let c = 0; c < 4; c++) out[c * h * w + y * w + x] = L[paint(y, x)][c];
  return out;
};

describe("toy-world models", () => {
  it("match the bundle contract (signatures checked by the runner's checker)", async () => {
    const b = await readBundleJson(dir);
    expect(b.ok).toBe(true);
    if (!b.ok) return;
    const bindings = new Map();
    for (const c of bundleComponents(b.bundle)) {
      const session = await ort.InferenceSession.create(componentPath(dir, b.bundle, c));
      const report = checkSignature(c, `${c}/model.onnx`, signatureOf(session), { bundle: b.bundle, bindings });
      expect(report.problems, c).toEqual([]);
      expect(report.warnings, c).toEqual([]);
    }
    expect(bindings.get("D1")?.value).toBe(D1);
    expect(["R0", "R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8", "RM"].map((r) => bindings.get(r)?.value)).toEqual(
      RESIDUAL_CHANNELS,
    );
  });

  it("uses the SDXL noise schedule the pipeline uses", () => {
    const ours = sigmaTable();
    const pipeline = trainSigmas({ ...SCHEDULER });
    for (let t = 0; t < ours.length; t++) expect(Math.abs(ours[t] - pipeline[t]) / pipeline[t]).toBeLessThan(2e-5);
  });

  it("text encoders: penultimate states name the things, text_embeds says which are named", async () => {
    const prompt = "a cat and a dog on a lawn";
    const ids = kit.promptIds(s, prompt, s.eosId);
    const r1 = await s.textEncoder.run({ input_ids: new ort.Tensor("int32", ids, [1, MAX_TOKENS]) });
    const r2 = await s.textEncoder2.run({
      input_ids: new ort.Tensor("int32", kit.promptIds(s, prompt, 0), [1, MAX_TOKENS]),
    });
    for (let l = 0; l <= TEXT_LAYERS; l++) expect(r1[`hidden_states.${l}`].dims).toEqual([1, MAX_TOKENS, D1]);
    expect(r1.pooler_output.dims).toEqual([1, D1]);
    expect(r2.text_embeds.dims).toEqual([1, 16]);
    const pen1 = r1[`hidden_states.${TEXT_LAYERS - 1}`].data as Float32Array;
    const pen2 = r2[`hidden_states.${TEXT_LAYERS - 1}`].data as Float32Array;
    const at = (h: Float32Array, pos: number, dim: number) => h[pos * D1 + dim];
    // Positions: BOS a cat and a dog on a lawn EOS.
    expect(at(pen1, 0, KIND_BOS)).toBeCloseTo(1, 5);
    expect(at(pen1, 2, TE1_THING + 0)).toBeCloseTo(1, 5);
    expect(at(pen1, 5, TE1_THING + 1)).toBeCloseTo(1, 5);
    expect(at(pen1, 8, TE1_THING + 4)).toBeCloseTo(1, 5);
    expect(at(pen1, 1, KIND_OTHER)).toBeCloseTo(1, 5);
    expect(at(pen1, 9, KIND_EOS)).toBeCloseTo(1, 5);
    expect(at(pen1, 1, TE1_THING + 0)).toBeCloseTo(0, 5);
    // text_encoder_2 counts things causally: after "cat" one cat, no dog yet.
    expect(at(pen2, 3, TE2_BAG + 0)).toBeCloseTo(1, 5);
    expect(at(pen2, 3, TE2_BAG + 1)).toBeCloseTo(0, 5);
    expect(at(pen2, 9, TE2_BAG + 1)).toBeCloseTo(1, 5);
    const pooled = Array.from(r2.text_embeds.data as Float32Array);
    expect(pooled).toEqual([1, 1, 0, 0, 1, 1, ...new Array(10).fill(0)]);
    // Other layers hold the same information in other bases, not the clean layout.
    const last = r1[`hidden_states.${TEXT_LAYERS}`].data as Float32Array;
    expect(Math.abs(at(last, 2, TE1_THING) - 1)).toBeGreaterThan(0.05);
    const empty = await kit.encodePrompt(s, "");
    expect(empty.pooled[POOLED_NAMES_ANY]).toBe(0);
  });

  it("unet: noise and attention of the contract's shapes for any window, rows summing to 1, fast", async () => {
    const c = await kit.encodePrompt(s, "a cat and a dog on a lawn");
    for (const [h, w] of [
      [64, 64],
      [32, 48],
    ]) {
      const sample = kit.gaussianNoise(2 * 4 * h * w, 3);
      const call = {
        sample,
        batch: 2,
        h,
        w,
        timestep: 601,
        hidden: new Float32Array([...c.hidden, ...c.hidden]),
        pooled: new Float32Array([...c.pooled, ...c.pooled]),
      };
      const r = await kit.runUnet(s, call);
      expect(r.eps.length).toBe(sample.length);
      expect(r.attention.length).toBe(2 * (h / 4) * (w / 4) * MAX_TOKENS);
      expect(r.eps.every(Number.isFinite)).toBe(true);
      for (let p = 0; p < r.attention.length / MAX_TOKENS; p += 7) {
        let sum = 0;
        for (let t = 0; t < MAX_TOKENS; t++) sum += r.attention[p * MAX_TOKENS + t];
        expect(sum).toBeCloseTo(1, 5);
      }
    }
    const call = {
      sample: kit.gaussianNoise(2 * 4 * 64 * 64, 4),
      batch: 2,
      h: 64,
      w: 64,
      timestep: 501,
      hidden: new Float32Array([...c.hidden, ...c.hidden]),
      pooled: new Float32Array([...c.pooled, ...c.pooled]),
    };
    await kit.runUnet(s, call);
    const t0 = performance.now();
    for (let i = 0; i < 5; i++) await kit.runUnet(s, call);
    expect((performance.now() - t0) / 5).toBeLessThan(100);
  });

  it("unet: predicts the noise that was added to a scene of the world (posterior mean at low noise)", async () => {
    const c = await kit.encodePrompt(s, "a cat on a lawn");
    const h = 64;
    const clean = latentsOf(h, h, (y, x) => (y >= 20 && y < 36 && x >= 10 && x < 26 ? 0 : 4));
    const noise = kit.gaussianNoise(clean.length, 5);
    const table = sigmaTable();
    for (const t of [501, 201, 21]) {
      const sigma = table[t];
      const scale = Math.sqrt(sigma * sigma + 1);
      const sample = clean.map((v, i) => (v + sigma * noise[i]) / scale);
      const { eps } = await kit.runUnet(s, {
        sample,
        batch: 1,
        h,
        w: h,
        timestep: t,
        hidden: c.hidden,
        pooled: c.pooled,
      });
      // Predicted x0 = x_t - sigma eps; away from the box edges it is the clean scene, up to the
      // share of the noise the world's detail prior (tau) keeps.
      let err = 0;
      let n = 0;
      for (let i = 0; i < clean.length; i++) {
        const y = Math.floor((i % (h * h)) / h);
        const x = i % h;
        if ([19, 20, 35, 36].includes(y) || [9, 10, 25, 26].includes(x)) continue;
        const x0 = sample[i] * scale - sigma * eps[i];
        err += (x0 - clean[i]) ** 2;
        n++;
      }
      expect(Math.sqrt(err / n), `t=${t}`).toBeLessThan(0.1);
    }
  });

  it("unet: ignores time_ids and the ControlNet residuals when they are zero", async () => {
    const c = await kit.encodePrompt(s, "a dog");
    const sample = kit.gaussianNoise(4 * 32 * 32, 6);
    const base = await kit.runUnet(s, {
      sample,
      batch: 1,
      h: 32,
      w: 32,
      timestep: 401,
      hidden: c.hidden,
      pooled: c.pooled,
    });
    const timeIds = new Float32Array([512, 512, 0, 0, 512, 512]);
    const r = await s.unet.run({
      sample: kit.f32(sample, [1, 4, 32, 32]),
      timestep: kit.f32(Float32Array.of(401), [1]),
      encoder_hidden_states: kit.f32(c.hidden, [1, MAX_TOKENS, 32]),
      text_embeds: kit.f32(c.pooled, [1, 16]),
      time_ids: kit.f32(timeIds, [1, 6]),
      ...kit.zeroResiduals(1, 32, 32),
    });
    expect(Array.from(r.out_sample.data as Float32Array)).toEqual(Array.from(base.eps));
  });

  it("vae: decodes each thing's latent to its colour and encodes it back", async () => {
    const h = 4;
    const w = NUM_THINGS;
    const z = latentsOf(h, w, (_, x) => x);
    const rgb = await kit.decodeLatents(s, z, h, w);
    expect(rgb.length).toBe(3 * 64 * h * w);
    const plane = 64 * h * w;
    THINGS.forEach((t, k) => {
      const p = 8 * 8 * w + 8 * k + 3; // pixel (8, 8k + 3)
      for (let c = 0; c < 3; c++) expect(rgb[c * plane + p]).toBeCloseTo(t.rgb[c], 5);
    });
    const back = await s.vaeEncoder.run({ sample: kit.f32(rgb, [1, 3, 8 * h, 8 * w]) });
    expect(back.latent_sample.dims).toEqual([1, 4, h, w]);
    const unscaled = back.latent_sample.data as Float32Array;
    for (let i = 0; i < z.length; i++) expect(unscaled[i] * VAE_SCALING_FACTOR).toBeCloseTo(z[i], 4);
  });

  it("controlnet: residuals of SDXL's structure, proportional to edges and to the scale", async () => {
    const c = await kit.encodePrompt(s, "a dog");
    const h = 16;
    const w = 24;
    const cond = new Float32Array(3 * 8 * h * 8 * w);
    for (let ch = 0; ch < 3; ch++) for (let x = 0; x < 8 * w; x++) cond[ch * 64 * h * w + 40 * 8 * w + x] = 1; // a line at y = 40
    const call = {
      sample: new Float32Array(4 * h * w),
      batch: 1,
      h,
      w,
      timestep: 1,
      hidden: c.hidden,
      pooled: c.pooled,
    };
    const one = await kit.runControlNet(s, call, cond, 1);
    const half = await kit.runControlNet(s, call, cond, 0.5);
    const names = Object.keys(one);
    expect(names).toHaveLength(10);
    const factors = [1, 1, 1, 2, 2, 2, 4, 4, 4, 4];
    names.forEach((name, k) => {
      expect(one[name].dims).toEqual([1, RESIDUAL_CHANNELS[k], h / factors[k], w / factors[k]]);
      const a = one[name].data as Float32Array;
      const b = half[name].data as Float32Array;
      for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(a[i] / 2, 6);
    });
    // Full resolution: only latent row 5 (pixel row 40) carries the edge.
    const r0 = one[names[0]].data as Float32Array;
    let onRow = 0;
    let elsewhere = 0;
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        (y === 5 ? (v: number) => (onRow += v) : (v: number) => (elsewhere += v))(Math.abs(r0[y * w + x]));
    expect(onRow).toBeGreaterThan(0);
    expect(elsewhere).toBe(0);
  });
});
