/**
 * GET /v1/quote?width=&height=&... — the price of a render without running it. Takes the body's parameters as query
 * parameters (`switches.<name>=false`, `image.sha256=...`); numbers and booleans are read from their text, anything
 * else stays a string so that the schema reports it. With a prompt and a seed the quote is cache-aware (the same plan
 * POST /v1/images would make); otherwise every phase is priced as computed.
 */
import { fromZodError, problemResponse, quote, renderPhases, resolveRequest } from "@accdiff/shared";
import { Hono } from "hono";
import { ZodError } from "zod";
import { planRender } from "../cache/plan";
import { configOf } from "../env";
import { cacheView } from "../jobs/view";
import { requireKey } from "../middleware/auth";
import type { AppEnv } from "../middleware/context";

const NUMERIC = /^-?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

function scalar(v: string): unknown {
  if (v === "true") return true;
  if (v === "false") return false;
  if (NUMERIC.test(v)) return Number(v);
  return v;
}

/** Query parameters -> the request object (dotted names become nested objects). */
export function queryToInput(q: URLSearchParams): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, raw] of q) {
    const path = name.split(".");
    let o = out;
    for (const p of path.slice(0, -1)) {
      if (typeof o[p] !== "object" || o[p] === null) o[p] = {};
      o = o[p] as Record<string, unknown>;
    }
    const last = path[path.length - 1];
    // Free text stays text even when it looks like a number.
    o[last] = last === "prompt" || last === "negativePrompt" || last === "sha256" ? raw : scalar(raw);
  }
  return out;
}

export const quoteRoutes = new Hono<AppEnv>();

quoteRoutes.use("*", requireKey);

quoteRoutes.get("/", async (c) => {
  const cfg = configOf(c.env);
  const input = queryToInput(new URL(c.req.url).searchParams);
  const cacheAware = typeof input.prompt === "string" && input.seed !== undefined;
  if (input.prompt === undefined) input.prompt = "(quote)";
  let params: ReturnType<typeof resolveRequest>;
  try {
    params = resolveRequest(input, cfg.limits);
  } catch (e) {
    if (e instanceof ZodError) return problemResponse(fromZodError(e));
    throw e;
  }
  const base = cfg.limits.baseResolution;
  const render = renderPhases(params, base);
  const plan = cacheAware ? await planRender(c.env, cfg.bundleHash, params, render) : null;
  const q = quote(render, plan?.cachedPhases ?? []);
  return c.json({
    ...q,
    phases: plan?.keys.scales ?? q.lines.map((l) => l.phase),
    cache: plan ? cacheView(plan.cache) : null,
  });
});
