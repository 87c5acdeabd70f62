import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    // One Temporal dev server (and one workflow bundle) for the whole run; every
    // test file uses its own task queue, ids and ports.
    globalSetup: ["test/support/global-setup.ts"],
    setupFiles: ["test/support/quiet-temporal.ts"],
    // Test files start servers and workers: two at a time keeps a 2-core machine responsive.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 30_000,
    reporters: ["default", "json"],
    outputFile: { json: ".oms/test-results.json" },
  },
});
