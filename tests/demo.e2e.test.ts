/**
 * End to end on loopback: the demo's own code (tests/demo) starts a real runner process (CPU, toy-world bundle) and
 * the worker in the local Workers runtime, renders at 4x through the public API, then asks for 2x and 3x. Asserted
 * here: statuses and sizes, that the cache answered the later requests without any dispatch (the runner accepted
 * exactly one job), that the ledger matches what was charged, that every image decodes at its announced size, that
 * the report was written, and that nothing the demo started is left running.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PRICE_TABLE } from "@accdiff/shared";
import { EventSource } from "eventsource";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeImage } from "../gpu-runner/src/images/encode";
import { Api } from "./demo/api";
import { type DemoOutcome, runDemo } from "./demo/demo";
import type { Downloaded, RenderRecord } from "./demo/flow";
import { followJob } from "./demo/follow";
import { startStack } from "./demo/stack";

const STEPS = 5;
const SEED = 99;
const BASE = 512;

let outDir: string;
let outcome: DemoOutcome;

function byLabel(label: string): RenderRecord {
  const r = outcome.run.renders.find((x) => x.label === label);
  if (!r) throw new Error(`no ${label} render`);
  return r;
}

function file(r: RenderRecord, kind: string, phase: number | null): Downloaded {
  const f = r.files.find((x) => x.kind === kind && x.phase === phase && x.contentType === "image/png");
  if (!f) throw new Error(`${r.label}: no ${kind} for phase ${phase}`);
  return f;
}

/**
 * Follows a stream with the `eventsource` package exactly as a browser or a phone would: `new EventSource(url)`, no
 * headers, listeners for the documented events, close on `end`. Every event is checked against the document.
 */
function plainEventSource(api: Api, url: string): Promise<{ event: string; data: Record<string, unknown> }[]> {
  return new Promise((resolve, reject) => {
    const es = new EventSource(url);
    const seen: { event: string; data: Record<string, unknown> }[] = [];
    const timer = setTimeout(() => {
      es.close();
      reject(new Error(`EventSource: no end after ${seen.length} events`));
    }, 120_000);
    const on = (event: string) =>
      es.addEventListener(event, (e) => {
        const m = e as unknown as { data: string; lastEventId: string };
        seen.push({ event, data: JSON.parse(m.data) });
        api.conformEvent(url, { event, id: m.lastEventId, data: m.data }).catch((err) => {
          es.close();
          reject(err);
        });
        if (event === "end") {
          clearTimeout(timer);
          es.close();
          resolve(seen);
        }
      });
    for (const event of ["job", "progress", "end"]) on(event);
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) {
        clearTimeout(timer);
        reject(new Error("EventSource closed before end"));
      }
    };
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  outDir = await mkdtemp(join(tmpdir(), "accdiff-e2e-"));
  outcome = await runDemo({ outDir, steps: STEPS, seed: SEED });
}, 280_000);

afterAll(async () => {
  if (outDir) await rm(outDir, { recursive: true, force: true });
});

describe("demo flow on loopback", () => {
  it("renders 4x on the runner and answers 2x and 3x from the cache", () => {
    const [first, two, three] = outcome.run.renders;
    expect(outcome.run.renders.map((r) => r.label)).toEqual(["4x", "2x", "3x"]);

    expect(first.httpStatus).toBe(202);
    expect(first.final).toMatchObject({ status: "succeeded", dispatched: true, phases: [1, 2, 3, 4] });
    expect(first.final.cache).toEqual({
      phase1: "miss",
      phasesServed: [],
      phasesComputed: [1, 2, 3, 4],
      patchPromptsRecomputed: false,
    });
    expect(first.final.result?.phasesComputed).toEqual([1, 2, 3, 4]);
    expect(first.progressViews).toBeGreaterThan(0);

    for (const [r, served] of [
      [two, [2]],
      [three, [2, 3]],
    ] as const) {
      expect(r.httpStatus, r.label).toBe(200);
      expect(r.submitted.status, r.label).toBe("succeeded");
      expect(r.final.dispatched, r.label).toBe(false);
      expect(r.final.cache, r.label).toEqual({
        phase1: "hit",
        phasesServed: served,
        phasesComputed: [],
        patchPromptsRecomputed: false,
      });
    }
    // The runner's own log: it accepted the 4x job and nothing else.
    expect(outcome.jobsAccepted).toEqual([first.final.id]);
    expect(outcome.summary.runner.jobsAccepted).toEqual([first.final.id]);
  });

  it("serves the cached renders with the very pixels the 4x render computed", () => {
    const first = byLabel("4x");
    for (const [label, phase] of [
      ["2x", 2],
      ["3x", 3],
    ] as const) {
      const r = byLabel(label);
      const final = r.files.find((f) => f.kind === "final_image");
      expect(final?.sha256, label).toBe(file(first, "phase_image", phase).sha256);
      expect(file(r, "lowres_image", 1).sha256, label).toBe(file(first, "lowres_image", 1).sha256);
    }
  });

  it("downloads decodable images of the announced sizes", async () => {
    for (const r of outcome.run.renders) {
      const images = r.files.filter((f) => f.contentType.startsWith("image/"));
      expect(images.length, r.label).toBeGreaterThan(0);
      for (const f of images) {
        expect(createHash("sha256").update(f.bytes).digest("hex"), f.name).toBe(f.sha256);
        const rgb = await decodeImage(f.bytes);
        expect([rgb.width, rgb.height], `${r.label}/${f.name}`).toEqual([f.width, f.height]);
        if (f.kind === "lowres_image") expect(rgb.width).toBe(BASE);
        if (f.kind === "phase_image" || f.kind === "canny") expect(rgb.width).toBe(BASE * (f.phase ?? 1));
        if (f.kind === "final_image") expect([rgb.width, rgb.height]).toEqual([r.width, r.height]);
      }
    }
    expect(byLabel("4x").width).toBe(4 * BASE);
    expect(byLabel("2x").width).toBe(2 * BASE);
    expect(byLabel("3x").width).toBe(3 * BASE);
    const first = byLabel("4x");
    expect(first.files.filter((f) => f.kind === "phase_image").map((f) => f.phase)).toEqual([2, 3, 4]);
    expect(first.files.filter((f) => f.kind === "canny").map((f) => f.phase)).toEqual([1, 2, 3, 4]);
    expect(first.files.filter((f) => f.kind === "patch_prompts").map((f) => f.phase)).toEqual([2, 3, 4]);
  });

  it("charges each request its quote, and the ledger adds up to what was charged", () => {
    const { usage, credited } = outcome.run;
    for (const r of outcome.run.renders) {
      const quoted = outcome.run.quotes.find((q) => q.label === r.label)?.price;
      expect(r.final.billing, r.label).toEqual({ state: "captured", reserved: quoted, charged: quoted });
      const entries = usage.ledger.entries.filter((e) => e.jobId === r.final.id);
      expect(entries.map((e) => e.kind).sort(), r.label).toEqual(["capture", "reserve"]);
      expect(
        entries.reduce((a, e) => a + e.amount, 0),
        r.label,
      ).toBe(-r.final.billing.charged);
    }
    // Cached phases cost a tenth of computed ones: the cached renders pay little more than the minimum.
    expect(byLabel("2x").final.billing.charged).toBe(PRICE_TABLE.minimum);
    expect(byLabel("3x").final.billing.charged).toBeLessThan(byLabel("4x").final.billing.charged / 10);
    const charged = outcome.run.renders.reduce((a, r) => a + r.final.billing.charged, 0);
    expect(usage.ledger.nextCursor).toBeNull();
    expect(usage.ledger.entries.reduce((a, e) => a + e.amount, 0)).toBe(usage.balance);
    expect(usage.balance).toBe(credited - charged);
    expect(usage.reserved).toBe(0);
    expect(usage.reservations).toEqual([]);
    expect(outcome.summary.ledger).toMatchObject({ credited, charged, balance: credited - charged });
  });

  it("counts model evaluations for the computed render only", () => {
    const [first, ...cached] = outcome.summary.renders;
    expect(Object.keys(first.modelEvaluations.byPhase)).toEqual(["1", "2", "3", "4"]);
    // Phase 1 runs the UNet once per step; each upscaling phase runs it at least twice per step (two branches).
    expect(first.modelEvaluations.byPhase["1"].unetCalls).toBe(STEPS);
    for (const k of ["2", "3", "4"]) {
      expect(first.modelEvaluations.byPhase[k].unetCalls).toBeGreaterThanOrEqual(2 * STEPS);
      expect(first.modelEvaluations.byPhase[k].controlnetCalls).toBeGreaterThan(0);
      expect(first.modelEvaluations.byPhase[k].vaeCalls).toBe(1);
    }
    for (const r of cached) {
      expect(
        Object.values(r.modelEvaluations.total).every((n) => n === 0),
        r.label,
      ).toBe(true);
    }
  });

  it("writes the report: summary.json, index.html and the explanatory pictures", async () => {
    const summary = JSON.parse(await readFile(join(outDir, "summary.json"), "utf8"));
    expect(summary).toEqual(JSON.parse(JSON.stringify(outcome.summary)));
    expect(
      summary.renders.map((r: { label: string; width: number; status: string; dispatched: boolean }) => [
        r.label,
        r.width,
        r.status,
        r.dispatched,
      ]),
    ).toEqual([
      ["4x", 2048, "succeeded", true],
      ["2x", 1024, "succeeded", false],
      ["3x", 1536, "succeeded", false],
    ]);
    const html = await readFile(join(outDir, "index.html"), "utf8");
    expect(html).toContain(outcome.summary.prompt);
    for (const r of outcome.summary.renders) {
      for (const img of r.images) expect(existsSync(join(outDir, img.file)), img.file).toBe(true);
    }
    for (const k of [2, 3, 4]) {
      expect(html).toContain(`4x/patches/phase-${k}.png`);
      const grid = await decodeImage(await readFile(join(outDir, `4x/patches/phase-${k}.png`)));
      expect(grid.width).toBe(BASE * k);
    }
    for (const word of ["cat", "dog", "lawn"]) expect(html).toMatch(new RegExp(`4x/attention/\\d+-${word}\\.png`));
  });

  it("serves from the cache what a direct render computes (fresh stack, empty cache)", async () => {
    const stack = await startStack();
    try {
      const admin = new Api(stack.workerUrl, stack.adminToken);
      const account = await admin.createAccount("e2e direct");
      await admin.credit(account, 1_000_000, "e2e");
      const api = admin.as(await admin.issueKey(account, "e2e"));
      const body = { prompt: outcome.summary.prompt, width: 2 * BASE, height: 2 * BASE, seed: SEED, steps: STEPS };
      const { status, job } = await api.submit(body, "direct-2x");
      expect(status).toBe(202);
      // A phone's view of the same render: a plain EventSource on the signed stream link, no header at all.
      const phone = plainEventSource(api, job.links.stream);
      const done = await followJob(api, job.id, { timeoutMs: 120_000 });
      expect(done.status).toBe("succeeded");
      const seen = await phone;
      expect(seen.at(-1)).toEqual({ event: "end", data: { status: "succeeded" } });
      expect(seen.filter((m) => m.event === "progress").length).toBeGreaterThan(0);
      expect(seen.filter((m) => m.event === "job").at(-1)?.data).toMatchObject({ status: "succeeded" });
      expect(done.image?.sha256).toBe(byLabel("2x").final.image?.sha256);
      expect(done.preview?.sha256).toBe(byLabel("4x").final.preview?.sha256);
    } finally {
      await stack.stop();
    }
  });

  it("stops everything it started", async () => {
    expect(alive(outcome.runnerPid)).toBe(false);
    await expect(fetch(`${outcome.runnerUrl}/healthz`)).rejects.toThrow();
    await expect(fetch(`${outcome.workerUrl}/openapi.json`)).rejects.toThrow();
  });
});
