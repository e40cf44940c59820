/**
 * The webhook routes of the public document (routes/webhooks.ts): the account's signing secret and a job's deliveries.
 * Shapes as webhooks/secrets.ts (WebhookSecretInfo, RotatedSecret) and jobs/webhookOutbox.ts (deliveryView) answer them.
 */
import { json, problem, ref } from "./components";

type Json = Record<string, unknown>;

const isoOrNull = { type: ["string", "null"], description: "ISO 8601 date-time" };

const secretInfo = {
  createdAt: { type: "string", description: "when the current secret was made (ISO 8601)" },
  previousValidUntil: { ...isoOrNull, description: "until when the replaced secret still signs too (null: none)" },
};

/** Component schemas the paths below refer to. */
export const webhookSchemas: Record<string, Json> = {
  WebhookSecretInfo: {
    type: "object",
    properties: secretInfo,
    required: ["createdAt", "previousValidUntil"],
    additionalProperties: false,
  },
  WebhookSecret: {
    type: "object",
    description: "the signing secret, shown this once (Standard Webhooks `whsec_` form)",
    properties: { secret: { type: "string", pattern: "^whsec_" }, ...secretInfo },
    required: ["secret", "createdAt", "previousValidUntil"],
    additionalProperties: false,
  },
  WebhookDeliveries: {
    type: "object",
    properties: {
      webhook: {
        description: "the job's webhook (null: none was asked for)",
        oneOf: [
          { type: "null" },
          {
            type: "object",
            properties: { url: { type: "string" }, events: { type: "array", items: { type: "string" } } },
            required: ["url", "events"],
          },
        ],
      },
      deliveries: {
        type: "array",
        items: {
          type: "object",
          properties: {
            id: { type: "string", description: "the `webhook-id` header: the same on every retry" },
            type: { type: "string", description: "event type, e.g. `image.completed`" },
            phase: { type: ["integer", "null"] },
            url: { type: "string" },
            state: { type: "string", enum: ["pending", "delivered", "failed"] },
            attempts: { type: "integer", minimum: 0 },
            nextAttemptAt: isoOrNull,
            lastStatus: { type: ["integer", "null"], description: "HTTP status of the last attempt" },
            lastError: { type: ["string", "null"] },
            createdAt: { type: "string" },
            deliveredAt: isoOrNull,
          },
          required: ["id", "type", "phase", "url", "state", "attempts", "nextAttemptAt", "lastStatus", "lastError"],
          additionalProperties: false,
        },
      },
    },
    required: ["webhook", "deliveries"],
    additionalProperties: false,
  },
};

export function webhookPaths(common: Json, idParam: Json): Record<string, Json> {
  return {
    "/v1/images/{id}/webhooks": {
      parameters: [idParam],
      get: {
        operationId: "listWebhookDeliveries",
        tags: ["webhooks"],
        summary: "The job's webhook deliveries: event, state, attempts, last answer, next attempt",
        responses: {
          "200": json("the job's webhook and its deliveries", ref("WebhookDeliveries")),
          "404": problem("no such job"),
          ...common,
        },
      },
    },
    "/v1/webhooks/secret": {
      post: {
        operationId: "rotateWebhookSecret",
        tags: ["webhooks"],
        summary: "Create or rotate the account's webhook signing secret",
        description:
          "The only time the secret is shown. After a rotation the previous secret keeps signing (a second v1 " +
          "signature in `webhook-signature`) for 24 hours.",
        responses: {
          "201": json("the new secret", ref("WebhookSecret")),
          "404": problem("no such account"),
          ...common,
        },
      },
      get: {
        operationId: "getWebhookSecretInfo",
        tags: ["webhooks"],
        summary: "When the signing secret was made (never the secret)",
        responses: {
          "200": json("the secret's dates", ref("WebhookSecretInfo")),
          "404": problem("no secret yet"),
          ...common,
        },
      },
    },
  };
}
