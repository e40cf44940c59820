/**
 * A job's webhook deliveries, kept in its JobDO's storage (one key per event id) and sent from the JobDO's alarm: at
 * once, then after each retry interval (WEBHOOK_RETRY_SECONDS) until the receiver answers 2xx, answers 410 Gone,
 * or the schedule is used up. Every attempt is signed anew (Standard Webhooks, the account's current secrets) and
 * re-checks the address (webhooks/address.ts); redirects are not followed.
 */
import type { WebhookEvent } from "@accdiff/shared";
import { accountStub } from "../accounts/client";
import type { JobState } from "../domain/job";
import { configOf, type Env } from "../env";
import { checkWebhookUrl } from "../webhooks/address";
import { webhookHeaders } from "../webhooks/standard";
import { EVENT_TYPES, eventId, payloadOf, transitionEvents } from "./webhookEvents";

export interface WebhookDelivery {
  id: string;
  type: string;
  event: WebhookEvent;
  phase: number | null;
  accountId: string;
  url: string;
  body: string;
  createdAt: number;
  /** Position among the events of one transition (phases before the end), for the delivery order. */
  order?: number;
  attempts: number;
  state: "pending" | "delivered" | "failed";
  /** When the next attempt is due (pending only). */
  nextAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
  deliveredAt: number | null;
}

const PREFIX = "webhook:";

/** What a client sees of a delivery (GET /v1/images/:id/webhooks). */
export function deliveryView(d: WebhookDelivery) {
  const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
  return {
    id: d.id,
    type: d.type,
    phase: d.phase,
    url: d.url,
    state: d.state,
    attempts: d.attempts,
    nextAttemptAt: iso(d.nextAt),
    lastStatus: d.lastStatus,
    lastError: d.lastError,
    createdAt: iso(d.createdAt),
    deliveredAt: iso(d.deliveredAt),
  };
}

export class WebhookOutbox {
  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly env: Env,
    /** Asks for the alarm at `at` at the latest (AlarmSlots.earliest). */
    private readonly wake: (at: number | null) => Promise<void>,
  ) {}

  /** Queues the events of the change from `prev` to `s` (each event id once) and asks for an alarm now. */
  async record(prev: JobState | null, s: JobState, now: number): Promise<void> {
    const events = transitionEvents(prev, s);
    if (events.length === 0 || !s.webhook) return;
    let queued = false;
    for (const [order, e] of events.entries()) {
      const id = eventId(s.id, e);
      if (await this.storage.get(PREFIX + id)) continue;
      const d: WebhookDelivery = {
        id,
        type: EVENT_TYPES[e.event],
        event: e.event,
        phase: e.phase,
        accountId: s.accountId,
        url: s.webhook.url,
        body: await payloadOf(s, e, this.env.URL_SIGNING_SECRET, now),
        createdAt: now,
        order,
        attempts: 0,
        state: "pending",
        nextAt: now,
        lastStatus: null,
        lastError: null,
        deliveredAt: null,
      };
      await this.storage.put(PREFIX + id, d);
      queued = true;
    }
    if (queued) await this.wake(now);
  }

  async list(): Promise<WebhookDelivery[]> {
    const all = await this.storage.list<WebhookDelivery>({ prefix: PREFIX });
    return [...all.values()].sort((a, b) => a.createdAt - b.createdAt || (a.order ?? 0) - (b.order ?? 0));
  }

  /** Sends every delivery that is due, in the order the events happened, then asks for the next retry's alarm. */
  async deliverDue(): Promise<void> {
    const now = Date.now();
    const due = (await this.list()).filter((d) => d.state === "pending" && d.nextAt !== null && d.nextAt <= now);
    if (due.length > 0) {
      const secrets = await accountStub(this.env, due[0].accountId).webhookSigningSecrets();
      for (const d of due) {
        await this.attempt(d, secrets);
        await this.storage.put(PREFIX + d.id, d);
      }
    }
    const next = (await this.list()).filter((d) => d.state === "pending" && d.nextAt !== null);
    await this.wake(next.length > 0 ? Math.min(...next.map((d) => d.nextAt as number)) : null);
  }

  private async attempt(d: WebhookDelivery, secrets: string[]): Promise<void> {
    const cfg = configOf(this.env).webhooks;
    const started = Date.now();
    d.attempts += 1;
    const give = (reason: string) => {
      d.state = "failed";
      d.nextAt = null;
      d.lastError = reason;
    };
    if (secrets.length === 0) return give("the account has no webhook signing secret");
    const check = await checkWebhookUrl(d.url, cfg);
    if (!check.ok) return give(`refused: ${check.reason}`);
    let status: number | null = null;
    let error: string | null = null;
    try {
      const headers = {
        ...(await webhookHeaders(secrets, d.id, d.body, started)),
        "content-type": "application/json",
        "user-agent": "accdiff-webhooks/1",
      };
      const res = await fetch(d.url, {
        method: "POST",
        headers,
        body: d.body,
        redirect: "manual",
        signal: AbortSignal.timeout(cfg.timeoutMs),
      });
      status = res.status;
      await res.body?.cancel();
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
    }
    d.lastStatus = status;
    if (status !== null && status >= 200 && status < 300) {
      d.state = "delivered";
      d.deliveredAt = Date.now();
      d.nextAt = null;
      d.lastError = null;
      return;
    }
    const why = error ?? `the receiver answered HTTP ${status}`;
    if (status === 410) return give(`${why} (Gone: not retried)`);
    if (d.attempts > cfg.retrySeconds.length) return give(`${why}; gave up after ${d.attempts} attempts`);
    d.lastError = why;
    d.nextAt = Date.now() + cfg.retrySeconds[d.attempts - 1] * 1000;
  }
}
