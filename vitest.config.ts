import { defineConfig } from "vitest/config";

// One project per workspace; the worker runs in the real Workers runtime (its own config).
export default defineConfig({
  test: {
    projects: [
      { test: { name: "shared", include: ["shared/src/**/*.test.ts"], environment: "node" } },
      { test: { name: "client", include: ["client/src/**/*.test.ts"], environment: "node" } },
      {
        test: {
          name: "gpu-runner",
          include: ["gpu-runner/src/**/*.test.ts", "gpu-runner/experiments/**/*.test.ts"],
          environment: "node",
          testTimeout: 60_000,
        },
      },
      "worker/vitest.config.ts",
      { test: { name: "e2e", include: ["tests/**/*.test.ts"], environment: "node", testTimeout: 300_000 } },
    ],
  },
});
