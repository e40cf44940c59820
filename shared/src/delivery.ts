/**
 * Delivery metadata of a generation request: where and when to call the client back. These fields travel in the same
 * JSON body as the method's parameters (request.ts spreads `DELIVERY_FIELDS` into its schema so that validation and
 * the OpenAPI spec see one object) but they are not parameters of the render: `resolveRequest` drops them, so they
 * never reach the runner, the cache keys or the price. `deliveryOf` reads them.
 */
import { z } from "zod";

/** What a webhook can be told: a finished job (succeeded), each phase image as it lands, a failure, a cancel. */
export const WEBHOOK_EVENTS = ["completed", "phase", "failed", "cancelled"] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];
export const DEFAULT_WEBHOOK_EVENTS: readonly WebhookEvent[] = ["completed"];

export const MAX_WEBHOOK_URL_CHARS = 2048;

export const DELIVERY_FIELDS = {
  /**
   * HTTPS URL that receives a signed POST (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature) for
   * each event in `webhook_events`. Hosts that resolve to loopback, private or link-local addresses are refused.
   */
  webhook: z
    .url({ protocol: /^https?$/ })
    .max(MAX_WEBHOOK_URL_CHARS)
    .describe("HTTPS URL called back with signed events (Standard Webhooks)")
    .optional(),
  /** Which events are delivered; default ["completed"]. */
  webhook_events: z
    .array(z.enum(WEBHOOK_EVENTS))
    .min(1)
    .max(WEBHOOK_EVENTS.length)
    .refine((a) => new Set(a).size === a.length, "must not repeat an event")
    .describe('events sent to `webhook` (default ["completed"])')
    .optional(),
};

export interface WebhookRequest {
  url: string;
  events: WebhookEvent[];
}

export const DeliverySchema = z
  .object(DELIVERY_FIELDS)
  .refine((d) => d.webhook_events === undefined || d.webhook !== undefined, {
    path: ["webhook_events"],
    message: "needs `webhook`",
  });

/** The webhook a validated request asks for, or null. Throws a ZodError when `webhook_events` comes without a URL. */
export function deliveryOf(input: unknown): WebhookRequest | null {
  const d = DeliverySchema.parse(input);
  if (!d.webhook) return null;
  return { url: d.webhook, events: [...(d.webhook_events ?? DEFAULT_WEBHOOK_EVENTS)] };
}
