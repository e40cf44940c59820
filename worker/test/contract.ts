/**
 * Every response the worker's tests receive from a documented route is checked against the OpenAPI documents the
 * worker serves (public, admin, internal), by the Node-side oracle (fakes/contract.ts): an undocumented status,
 * content type or body field fails the test that received it.
 */
import { env } from "cloudflare:workers";
import { responseRecord } from "../../tests/contract/openapi";

const FAKE = (env as unknown as { FAKE_URL: string }).FAKE_URL;

function documentFor(path: string): "public" | "admin" | "internal" | null {
  if (path.startsWith("/v1/")) return "public";
  if (path.startsWith("/admin/")) return "admin";
  if (path.startsWith("/internal/")) return "internal";
  return null;
}

/** Checks `res` (the answer to `method url`) against its document and returns it unread; throws on a violation. */
export async function conform(method: string, url: string, res: Response): Promise<Response> {
  const doc = documentFor(new URL(url, "http://worker").pathname);
  if (!doc) return res;
  const record = await responseRecord(method, new URL(url, "http://worker").href, res);
  const answer = await fetch(`${FAKE}/_contract/check`, { method: "POST", body: JSON.stringify({ doc, record }) });
  const { errors } = (await answer.json()) as { errors: string[] };
  if (errors.length > 0) {
    throw new Error(`response does not match the ${doc} OpenAPI document:\n  ${errors.join("\n  ")}`);
  }
  return res;
}
