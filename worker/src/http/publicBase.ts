/**
 * Where clients and runners reach this worker: PUBLIC_BASE_URL, from configuration only. Links in answers, runner
 * callbacks, upload and download URLs are all built on it, never on the request's Host header, which any client can
 * set (a forged Host would otherwise steer links, and the events and artifacts of the runners, to another host).
 * A worker without it refuses every request that needs it, with one clear error, except in local development
 * (`LOCAL_DEV=true`, set only in `.dev.vars`): there a request to a loopback address uses its own origin, so that
 * `wrangler dev` works on any port.
 */
import { problem, problemResponse } from "@accdiff/shared";
import { createMiddleware } from "hono/factory";
import type { Env } from "../env";

export type BaseResolution = { ok: true; base: string } | { ok: false; detail: string };

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

export function resolvePublicBase(env: Pick<Env, "PUBLIC_BASE_URL" | "LOCAL_DEV">, requestUrl: string): BaseResolution {
  const configured = env.PUBLIC_BASE_URL?.trim();
  if (configured) {
    let u: URL;
    try {
      u = new URL(configured);
    } catch {
      return { ok: false, detail: `PUBLIC_BASE_URL is not a URL: ${JSON.stringify(configured)}` };
    }
    if ((u.protocol !== "https:" && u.protocol !== "http:") || u.search || u.hash) {
      return { ok: false, detail: "PUBLIC_BASE_URL must be an http(s) URL without query or fragment" };
    }
    return { ok: true, base: `${u.origin}${u.pathname}`.replace(/\/+$/, "") };
  }
  const req = new URL(requestUrl);
  if (env.LOCAL_DEV === "true" && LOOPBACK.has(req.hostname)) return { ok: true, base: req.origin };
  return {
    ok: false,
    detail:
      "PUBLIC_BASE_URL is not configured: this worker cannot give links or dispatch jobs (runners call it back " +
      "there). Set it in wrangler.toml [vars] or with --var; LOCAL_DEV=true in .dev.vars allows loopback origins.",
  };
}

/** The base of a request that passed `requirePublicBase`. */
export function publicBase(env: Env, requestUrl: string): string {
  const r = resolvePublicBase(env, requestUrl);
  if (!r.ok) throw new Error(r.detail);
  return r.base;
}

/** 503 problem+json on every request of a worker that does not know its public address. */
export const requirePublicBase = createMiddleware<{ Bindings: Env }>(async (c, next) => {
  const r = resolvePublicBase(c.env, c.req.url);
  if (!r.ok) {
    console.error(`misconfigured: ${r.detail}`);
    return problemResponse(problem(503, "Service misconfigured", r.detail), { "retry-after": "60" });
  }
  await next();
});
