import { describe, expect, it } from "vitest";
import { ZodError } from "zod";
import { phase1CacheKey, phaseCacheKey } from "./cacheKeys";
import { deliveryOf } from "./delivery";
import { GenerationRequestSchema, resolveRequest } from "./request";

const base = { prompt: "a cat", width: 2048, height: 2048, seed: 7 };
const hooked = { ...base, webhook: "https://hooks.example.com/accdiff", webhook_events: ["phase", "completed"] };

describe("delivery fields", () => {
  it("are accepted by the request schema and read by deliveryOf, with completed as the default event", () => {
    expect(GenerationRequestSchema.safeParse(hooked).success).toBe(true);
    expect(deliveryOf(hooked)).toEqual({ url: hooked.webhook, events: ["phase", "completed"] });
    expect(deliveryOf({ ...base, webhook: "https://h.example.com/x" })?.events).toEqual(["completed"]);
    expect(deliveryOf(base)).toBeNull();
  });

  it("never reach the resolved request or any cache key", async () => {
    const plain = resolveRequest(base);
    const withHook = resolveRequest(hooked);
    expect(withHook).toEqual(plain);
    expect(Object.keys(withHook)).not.toContain("webhook");
    expect(await phase1CacheKey("b", withHook)).toBe(await phase1CacheKey("b", plain));
    const k1 = await phase1CacheKey("b", plain);
    const size = { width: 1024, height: 1024 };
    expect(await phaseCacheKey(k1, k1, withHook, 2, size)).toBe(await phaseCacheKey(k1, k1, plain, 2, size));
  });

  it("refuses unknown events, repeats, non-http URLs and events without a URL", () => {
    for (const bad of [
      { ...hooked, webhook_events: ["finished"] },
      { ...hooked, webhook_events: ["completed", "completed"] },
      { ...hooked, webhook_events: [] },
      { ...hooked, webhook: "ftp://hooks.example.com/x" },
      { ...hooked, webhook: "not a url" },
      { ...base, webhook_events: ["completed"] },
    ]) {
      expect(GenerationRequestSchema.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
    expect(() => deliveryOf({ ...base, webhook_events: ["completed"] })).toThrow(ZodError);
  });
});
