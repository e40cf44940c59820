/**
 * What a refused request must look like (problem+json with the right status) and leave behind (nothing): shared by
 * the tests of hostile, untrusted and unrunnable input.
 */
import { listDurableObjectIds } from "cloudflare:test";
import { expect } from "vitest";
import { audit, runnerLog, testEnv } from "./jobsHelpers";

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  errors?: { path: string; message: string }[];
}

/** The response's problem, after checking its status (the body is in the message), media type and type URL. */
export async function problemOf(res: Response, status: number): Promise<Problem> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  const p = JSON.parse(text) as Problem;
  expect(p.status).toBe(status);
  expect(p.type).toMatch(/^https:\/\//);
  return p;
}

/** No job object beyond `jobsBefore`, the account untouched at `funds`, no dispatch of `prompt`, no upload kept. */
export async function nothingStored(acct: { id: string }, prompt: string, jobsBefore: number, funds: number) {
  expect((await listDurableObjectIds(testEnv.JOBS)).length).toBe(jobsBefore);
  expect(await audit(acct.id)).toMatchObject({ balance: funds, reserved: 0 });
  expect((await runnerLog(prompt)).jobs).toHaveLength(0);
  expect((await testEnv.IMAGES.list({ prefix: `uploads/${acct.id}/` })).objects).toHaveLength(0);
}
