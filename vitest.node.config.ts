import { defineConfig } from "vitest/config";

// Node-side tests (dev tooling, scripts); the Worker's own tests run in workerd
// through vitest.config.ts.
export default defineConfig({
  test: {
    environment: "node",
    include: ["test/node/**/*.test.ts"],
  },
});
