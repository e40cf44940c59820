/**
 * The OpenAPI 3.1 documents, generated from the zod schemas the routes validate with and answer from:
 *   GET /openapi.json            the public API (what app developers generate clients from)
 *   GET /openapi/admin.json      the operators' admin API
 *   GET /openapi/internal.json   the runner protocol (RunnerJob, RunnerEvent, callbacks)
 */
import { Hono } from "hono";
import type { AppEnv } from "../middleware/context";
import { adminDocument } from "../openapi/admin";
import { internalDocument } from "../openapi/internal";
import { publicDocument } from "../openapi/public";

export const openApiRoutes = new Hono<AppEnv>();

const origin = (url: string) => new URL(url).origin;

openApiRoutes.get("/openapi.json", (c) => c.json(publicDocument(origin(c.req.url))));
openApiRoutes.get("/openapi/admin.json", (c) => c.json(adminDocument(origin(c.req.url))));
openApiRoutes.get("/openapi/internal.json", (c) => c.json(internalDocument(origin(c.req.url))));
