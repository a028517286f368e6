import { defineConfig } from "vitest/config";

// Node-side tests (dev tooling, scripts); the Worker's own tests run in workerd
// through vitest.config.ts.
export default defineConfig({
  test: {
    environment: "node",
    include: ["test/node/**/*.test.ts"],
    // Suites start real servers (Mastra's first import alone takes ~1s); a test
    // waiting on an event that never comes should still fail, just not at 5s on a slow box.
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
