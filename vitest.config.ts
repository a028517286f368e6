import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";
import { gatewayPoolOptions, TEMPLATE_ALIASES, templatePoolOptions } from "./test/mastra-worker/pool.mjs";

// Two projects, one command: the Worker's tests run inside workerd with real KV bindings; the
// Node-side tests (dev tooling, the real Mastra upstream, end-to-end) run in Node.
export default defineConfig({
  test: {
    // The JSON report is what .ci/run counts; the default reporter is for people.
    reporters: ["default", "json"],
    outputFile: { json: ".test-results/vitest.json" },
    projects: [
      {
        plugins: [
          cloudflareTest({
            main: "./src/index.ts",
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              // The Worker as deployed has no key source until one is configured; tests that go
              // through the real entry point configure a test instance here.
              bindings: {
                CLERK_ISSUER: "https://clerk.test.example",
                CLERK_JWKS_URI: "https://clerk.test.example/.well-known/jwks.json",
                LOG_LEVEL: "error",
              },
            },
          }),
        ],
        // examples/ import the package by name, as its users do; here that name is the source.
        // (A leading "/" is the project root to Vite.)
        resolve: { alias: { "mastra-edge-auth": "/src/lib.ts" } },
        test: {
          name: "worker",
          include: ["test/worker/**/*.test.ts"],
          // Above vitest's 5 s default: a loaded 2-core machine runs these several times slower.
          // Tests sized by time (the property tests) set their own, larger timeouts.
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      // The template Mastra Worker (examples/mastra-worker) with real Mastra in workerd, standalone
      // and behind the gateway (test/mastra-worker/pool.mjs sets up both).
      {
        plugins: [cloudflareTest(() => templatePoolOptions())],
        resolve: { alias: TEMPLATE_ALIASES },
        test: { name: "mastra-worker", include: ["test/mastra-worker/template/**/*.test.ts"], testTimeout: 60_000, hookTimeout: 120_000 },
      },
      {
        plugins: [cloudflareTest(() => gatewayPoolOptions("mastra-worker-gateway"))],
        resolve: { alias: TEMPLATE_ALIASES },
        test: { name: "mastra-worker-gateway", include: ["test/mastra-worker/gateway/**/*.test.ts"], testTimeout: 60_000, hookTimeout: 120_000 },
      },
      {
        test: {
          name: "node",
          environment: "node",
          include: ["test/node/**/*.test.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
