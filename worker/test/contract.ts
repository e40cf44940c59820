/**
 * Every response the worker's tests receive from a documented route is checked against the OpenAPI documents the
 * worker serves (public, admin, internal), by the Node-side oracle (fakes/contract.ts): an undocumented status,
 * content type or body field fails the test that received it.
 */
import { env } from "cloudflare:workers";
import { responseRecord, type StreamMessage } from "../../tests/contract/openapi";

const FAKE = (env as unknown as { FAKE_URL: string }).FAKE_URL;

function documentFor(path: string): "public" | "admin" | "internal" | null {
  if (path.startsWith("/v1/")) return "public";
  if (path.startsWith("/admin/")) return "admin";
  if (path.startsWith("/internal/")) return "internal";
  return null;
}

async function ask(doc: string, payload: Record<string, unknown>): Promise<void> {
  const answer = await fetch(`${FAKE}/_contract/check`, { method: "POST", body: JSON.stringify({ doc, ...payload }) });
  const { errors } = (await answer.json()) as { errors: string[] };
  if (errors.length > 0) {
    throw new Error(`response does not match the ${doc} OpenAPI document:\n  ${errors.join("\n  ")}`);
  }
}

/** Checks the Server-Sent Events a documented stream sent (each message's name, id and decoded data). */
export async function conformEvents(url: string, messages: StreamMessage[]): Promise<StreamMessage[]> {
  const path = new URL(url, "http://worker").pathname;
  const doc = documentFor(path);
  if (doc) await ask(doc, { events: { method: "GET", path, messages } });
  return messages;
}

/** Checks `res` (the answer to `method url`) against its document and returns it unread; throws on a violation. */
export async function conform(method: string, url: string, res: Response): Promise<Response> {
  const doc = documentFor(new URL(url, "http://worker").pathname);
  if (!doc) return res;
  const record = await responseRecord(method, new URL(url, "http://worker").href, res);
  await ask(doc, { record });
  return res;
}
