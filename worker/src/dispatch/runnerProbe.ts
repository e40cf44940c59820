/**
 * Is a runner still working on an attempt? Asked when the attempt has missed its keep-alives, so that a dead runner is
 * noticed long before its lease runs out. Only clear evidence counts as "dead": the connection was refused or reset
 * (nothing listens there any more), or the runner answers that it does not hold the attempt in hand (a restarted
 * runner whose journal says the attempt died with the old process, or that never heard of it). A timeout, a 5xx or an
 * unexpected answer prove nothing (a runner busy in a long model call may be slow to answer): the lease decides those.
 */
import {
  AttemptStatusSchema,
  attemptInHand,
  runnerAttemptPath,
  signRequest,
  UNKNOWN_ATTEMPT_TYPE,
} from "@accdiff/shared";

export type ProbeVerdict =
  | { verdict: "alive" }
  | { verdict: "dead"; reason: string }
  | { verdict: "unknown"; reason: string };

function timedOut(err: unknown): boolean {
  return err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
}

export async function probeAttempt(
  runner: string,
  secret: string,
  jobId: string,
  attempt: number,
  timeoutMs: number,
): Promise<ProbeVerdict> {
  const url = `${runner}${runnerAttemptPath(jobId, attempt)}`;
  let res: Response;
  try {
    // Signed over the whole path, as every request to a runner (a pool member may sit under a path prefix).
    const headers = await signRequest(secret, { method: "GET", path: new URL(url).pathname });
    res = await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    if (timedOut(err)) return { verdict: "unknown", reason: `${runner}: no answer in ${timeoutMs} ms` };
    return { verdict: "dead", reason: `${runner} cannot be reached (${why})` };
  }
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    // judged by the status alone
  }
  if (res.status === 404 && (body as { type?: unknown } | null)?.type === UNKNOWN_ATTEMPT_TYPE) {
    return { verdict: "dead", reason: `${runner} does not hold attempt ${attempt} (restarted or never got it)` };
  }
  if (!res.ok) return { verdict: "unknown", reason: `${runner}: probe answered HTTP ${res.status}` };
  const parsed = AttemptStatusSchema.safeParse(body);
  if (!parsed.success || parsed.data.attempt !== attempt) {
    return { verdict: "unknown", reason: `${runner}: unexpected probe answer` };
  }
  if (attemptInHand(parsed.data.status)) return { verdict: "alive" };
  // Its `completed` may still be on its way (retried): that event, or the lease, decides.
  if (parsed.data.status === "succeeded")
    return { verdict: "unknown", reason: `${runner}: attempt ${attempt} succeeded there` };
  const why = parsed.data.reason ? `: ${parsed.data.reason}` : "";
  return { verdict: "dead", reason: `${runner} no longer runs attempt ${attempt} (${parsed.data.status}${why})` };
}
