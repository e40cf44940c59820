/** Secrets the test worker and the fakes share (test-only values; the worker reads them from its bindings). */
export const TEST_SECRETS = {
  RUNNER_SECRET: "test-runner-secret-0123456789abcdef",
  URL_SIGNING_SECRET: "test-url-secret-0123456789abcdef",
  ADMIN_TOKEN: "test-admin-token-0123456789abcdef",
  REPLICATE_API_TOKEN: "r8_test_token",
  /** Standard Webhooks secret: "whsec_" + base64 of the key bytes. */
  REPLICATE_WEBHOOK_SECRET: `whsec_${Buffer.from("replicate-webhook-key-for-tests!").toString("base64")}`,
  REPLICATE_MODEL: "accdiff/accdiffusion-v2",
} as const;

/** The toy geometry tests use: small phases keep fake artifacts tiny. */
export const TEST_BASE_RESOLUTION = 64;
