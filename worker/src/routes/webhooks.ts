/**
 * Webhooks of the calling key's account, mounted at /v1 (API key required).
 *
 *   POST /v1/webhooks/secret       create or rotate the signing secret -> {secret, createdAt, previousValidUntil};
 *                                  the only time the secret is shown (the previous one keeps signing for 24 h)
 *   GET  /v1/webhooks/secret       {createdAt, previousValidUntil} (never the secret), 404 when none was made
 *   GET  /v1/images/:id/webhooks   the job's deliveries: state, attempts, last answer, next attempt
 */
import { Hono } from "hono";
import { accountStub } from "../accounts/client";
import { notFound } from "../http/problems";
import { jobStub } from "../jobs/client";
import { deliveryView } from "../jobs/webhookOutbox";
import { requireKey } from "../middleware/auth";
import type { AppEnv } from "../middleware/context";

export const webhookRoutes = new Hono<AppEnv>();

webhookRoutes.post("/webhooks/secret", requireKey, async (c) => {
  const rotated = await accountStub(c.env, c.var.principal.accountId).rotateWebhookSecret();
  if (!rotated) return notFound("no such account");
  return c.json(rotated, 201, { "cache-control": "no-store" });
});

webhookRoutes.get("/webhooks/secret", requireKey, async (c) => {
  const info = await accountStub(c.env, c.var.principal.accountId).webhookSecretInfo();
  if (!info) return notFound("no webhook secret yet: create one with POST /v1/webhooks/secret");
  return c.json(info);
});

webhookRoutes.get("/images/:id/webhooks", requireKey, async (c) => {
  const stub = jobStub(c.env.JOBS, c.req.param("id"));
  const s = stub ? await stub.get() : null;
  if (!stub || !s || s.accountId !== c.var.principal.accountId) return notFound("no such job");
  return c.json({ webhook: s.webhook ?? null, deliveries: (await stub.webhookDeliveries()).map(deliveryView) });
});
