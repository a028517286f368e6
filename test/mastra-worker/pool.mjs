// Node side of the "mastra-worker" test projects (vitest.config.ts): the workerd set-up that the
// tests inside it cannot do themselves. Stands in for the outside world only:
// - Clerk: a signing key made here, its JWKS served by Miniflare's outboundService (the Workers'
//   only way out; anything else they fetch is refused, so the tests are offline);
// - for the gateway project, the gateway itself: src/index.ts bundled with esbuild into a second
//   Worker whose MASTRA service binding is the template Worker under test.

import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Response } from "miniflare";
import { generateSigningKey } from "../../scripts/lib/clerk-token.mjs";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const ISSUER = "https://clerk.mastra-worker.test";
export const JWKS_URL = `${ISSUER}/.well-known/jwks.json`;
/** The gateway's secret for its assertions: ≥ 32 characters, test only. */
export const ASSERTION_SECRET = "mastra-worker-test-assertion-secret-0123456789";
const COMPATIBILITY_DATE = "2026-05-01";

/** Resolves the package name to the source, as the template's wrangler.toml [alias] does. */
export const TEMPLATE_ALIASES = {
  "mastra-edge-auth/mastra-worker": "/src/mastra-worker.ts",
  "mastra-edge-auth": "/src/lib.ts",
};

/** @type {Promise<{ kid: string, privateJwk: JsonWebKey, publicJwk: JsonWebKey }> | null} */
let keyPromise = null;
const jwksRequests = { count: 0 };

function signingKey() {
  keyPromise ??= generateSigningKey({ kid: "ins_mastra_worker_test" });
  return keyPromise;
}

/**
 * Clerk's JWKS endpoint; every other outbound request is refused (the tests are offline).
 * @param {Request} request
 */
async function outbound(request) {
  const url = new URL(request.url);
  if (url.origin + url.pathname === JWKS_URL) {
    jwksRequests.count++;
    const { publicJwk } = await signingKey();
    return new Response(JSON.stringify({ keys: [publicJwk] }), { headers: { "content-type": "application/json" } });
  }
  return new Response(`offline test: no route to ${url.origin}`, { status: 502 });
}

/** Bindings every project's runner gets: the Clerk key source and the test's signing key. */
async function clerkBindings() {
  const { kid, privateJwk } = await signingKey();
  return {
    CLERK_ISSUER: ISSUER,
    CLERK_JWKS_URI: JWKS_URL,
    LOG_LEVEL: "error",
    // Read by the tests only (test/mastra-worker/helpers.ts), to mint Clerk-shaped tokens.
    TEST_SIGNING_KEY: JSON.stringify({ kid, privateJwk }),
  };
}

/** Options for the project that runs the template Worker standalone (MastraAuthClerk). */
export async function templatePoolOptions() {
  return {
    main: "./examples/mastra-worker/src/index.ts",
    wrangler: { configPath: "./examples/mastra-worker/wrangler.toml" },
    miniflare: {
      bindings: { ...(await clerkBindings()), MASTRA_AUTH: "clerk" },
      outboundService: outbound,
      // How many times Clerk's JWKS was fetched, for the key-store tests.
      serviceBindings: { JWKS_STATS: () => new Response(JSON.stringify(jwksRequests)) },
    },
  };
}

/**
 * Options for the project where the template Worker sits behind the gateway: the runner's main is
 * the template with MASTRA_AUTH = "gateway"; the gateway is a second Worker ("gateway"), bound to
 * the tests as GATEWAY and bound to the template as its MASTRA service.
 */
export async function gatewayPoolOptions(projectName) {
  const gatewayScript = await bundleGateway();
  const clerk = await clerkBindings();
  return {
    main: "./examples/mastra-worker/src/index.ts",
    wrangler: { configPath: "./examples/mastra-worker/wrangler.toml" },
    miniflare: {
      // The audience is the origin the gateway addresses this Worker by: https://mastra.internal over a binding.
      bindings: { ...clerk, MASTRA_AUTH: "gateway", GATEWAY_ASSERTION_SECRET: ASSERTION_SECRET, GATEWAY_ASSERTION_AUDIENCE: "https://mastra.internal" },
      outboundService: outbound,
      serviceBindings: { GATEWAY: "gateway", JWKS_STATS: () => new Response(JSON.stringify(jwksRequests)) },
      workers: [
        {
          name: "gateway",
          modules: true,
          scriptPath: gatewayScript,
          compatibilityDate: COMPATIBILITY_DATE,
          compatibilityFlags: ["enable_request_signal"],
          kvNamespaces: ["JWKS_CACHE"],
          bindings: {
            CLERK_ISSUER: clerk.CLERK_ISSUER,
            CLERK_JWKS_URI: clerk.CLERK_JWKS_URI,
            LOG_LEVEL: "error",
            GATEWAY_ASSERTION_SECRET: ASSERTION_SECRET,
            PUBLIC_PATHS: "/api,/api/auth/*",
          },
          // The runner Worker of this project is the template (its default export is main's).
          serviceBindings: { MASTRA: `vitest-pool-workers-runner-${projectName}` },
          outboundService: outbound,
        },
      ],
    },
  };
}

/** The gateway's Worker entry, as wrangler would bundle it (esbuild comes with wrangler). */
async function bundleGateway() {
  const { build } = await import("esbuild");
  const outfile = join(ROOT, "node_modules", ".cache", "mastra-worker-tests", "gateway.mjs");
  await mkdir(dirname(outfile), { recursive: true });
  const result = await build({
    entryPoints: [join(ROOT, "src", "index.ts")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    external: ["cloudflare:*", "node:*"],
    write: false,
    logLevel: "silent",
  });
  await writeFile(outfile, result.outputFiles[0].contents);
  return outfile;
}
