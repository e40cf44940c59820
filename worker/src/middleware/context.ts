/** The Hono environment of the worker's routes: bindings plus what the auth middleware puts on the context. */
import type { Principal } from "../accounts";
import type { TokenDecision } from "../accounts/tokenBucket";
import type { Env } from "../env";

export type AppEnv = {
  Bindings: Env;
  Variables: { principal: Principal; rateLimit: TokenDecision };
};
