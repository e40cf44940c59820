/**
 * The edge worker: public API v1 (images, quote, usage, webhooks), admin, and the internal endpoints runners and Replicate call.
 * Every error is problem+json; the Durable Object classes are exported for their bindings (wrangler.toml).
 */
import { problem, problemResponse } from "@accdiff/shared";
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import type { AppEnv } from "./middleware/context";
import { corsForDeployment } from "./middleware/cors";
import { adminRoutes } from "./routes/admin";
import { imageRoutes } from "./routes/images";
import { internalRoutes } from "./routes/internal";
import { openApiRoutes } from "./routes/openapi";
import { quoteRoutes } from "./routes/quote";
import { uploadRoutes } from "./routes/uploads";
import { usageRoutes } from "./routes/usage";
import { webhookRoutes } from "./routes/webhooks";

export { AccountDO } from "./accounts";
export { JobDO } from "./jobs/JobDO";

const app = new Hono<AppEnv>();

// Before every route: a browser's preflight is answered without the API key (the actual request still needs it).
app.use("/v1/*", corsForDeployment);
app.use("/openapi.json", corsForDeployment);

app.route("/", openApiRoutes);
app.route("/v1/images", imageRoutes);
app.route("/v1/uploads", uploadRoutes);
app.route("/v1/quote", quoteRoutes);
app.route("/v1/usage", usageRoutes);
app.route("/v1", webhookRoutes);
app.route("/admin", adminRoutes);
app.route("/internal", internalRoutes);

app.notFound((c) =>
  problemResponse(problem(404, "Not found", `no route for ${c.req.method} ${new URL(c.req.url).pathname}`)),
);

app.onError((err, c) => {
  if (err instanceof HTTPException) {
    return problemResponse(problem(err.status, err.message || "Error"));
  }
  console.error(
    `${c.req.method} ${new URL(c.req.url).pathname}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
  );
  return problemResponse(problem(500, "Internal error", "the request could not be completed; retry later"));
});

export default app;
