/**
 * The worker's tests run inside the real Workers runtime (workerd via @cloudflare/vitest-pool-workers) with real KV,
 * R2 and Durable Objects from wrangler.toml. The loopback fakes start in Node first (test/fakes/globalSetup.ts); the
 * runtime then exposes the worker on a loopback port (`unsafeDirectSockets`), which is the PUBLIC_BASE_URL runners
 * and Replicate call back — the same HTTP path as in production, not an in-process shortcut.
 */
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";
import { TEST_BASE_RESOLUTION, TEST_SECRETS } from "./test/fakes/secrets.ts";

export default defineConfig({
  plugins: [
    cloudflareTest(({ inject }) => {
      const fake = inject("fakeUrl");
      const workerPort = inject("workerPort");
      return {
        main: "./src/index.ts",
        wrangler: { configPath: "../wrangler.toml" },
        miniflare: {
          unsafeDirectSockets: [{ host: "127.0.0.1", port: workerPort }],
          bindings: {
            ...TEST_SECRETS,
            FAKE_URL: fake,
            RUNNER_URLS: `${fake}/r/a,${fake}/r/b`,
            PUBLIC_BASE_URL: `http://127.0.0.1:${workerPort}`,
            REPLICATE_API_BASE: `${fake}/replicate/v1`,
            DISPATCH_BACKEND: "runner",
            BUNDLE_ID: "toy-test",
            BUNDLE_HASH: "toy-test-hash",
            BASE_RESOLUTION: String(TEST_BASE_RESOLUTION),
            MAX_SIDE: "512",
            // Tests expire leases explicitly (test/jobsHelpers.ts expireLease: the clock moved past the deadline, then
            // runDurableObjectAlarm); a real one must not fire mid-test. Under the 300 s signature window, so that
            // requests signed across that clock jump are still accepted by the fakes and the worker.
            LEASE_SECONDS: "240",
            // A runner that does not answer a dispatch is given up on quickly (the fakes answer in milliseconds).
            DISPATCH_TIMEOUT_MS: "1500",
            MAX_UPLOAD_BYTES: "262144",
            MAX_UPLOAD_PIXELS: "262144",
            // Local-dev webhook policy (loopback receivers allowed), a DoH fake, and quick retries.
            LOCAL_DEV: "true",
            WEBHOOK_DNS_URL: `${fake}/dns-query`,
            WEBHOOK_RETRY_SECONDS: "1,1,1",
            CORS_ORIGINS: "https://app.test, https://web.test",
          },
        },
      };
    }),
  ],
  test: {
    name: "worker",
    include: ["test/**/*.test.ts", "src/**/*.test.ts"],
    globalSetup: ["./test/fakes/globalSetup.ts"],
    testTimeout: 20_000,
  },
});
