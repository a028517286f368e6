#!/usr/bin/env node
// `npm run dev:edge`: the whole edge stack on one laptop, offline — the dev issuer (Clerk's
// stand-in, loopback) → the gateway Worker → over a service binding → the template Mastra Worker
// (examples/mastra-worker, MASTRA_AUTH = "gateway"), both Workers in one workerd, both from their
// `wrangler deploy --dry-run` bundles (so what runs is what would be deployed).
//
//   npm run dev:edge [-- --port 8787] [-- --issuer-port 8790]
//   curl -H "Authorization: Bearer $(npm run -s token)" -H 'content-type: application/json' \
//        -d '{"messages":"What is the weather in Lisbon?","memory":{"thread":"t1"}}' \
//        http://127.0.0.1:8787/api/agents/weatherAgent/generate
//
// The Mastra Worker has no port of its own: only the gateway can reach it, as in production.

import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { DEFAULT_ISSUER_PORT, startDevIssuer } from "./dev-issuer.mjs";
import { dryRunBundle, ROOT, TEMPLATE_CONFIG, workerOptionsFor } from "./lib/mastra-worker.mjs";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "8787" },
    "issuer-port": { type: "string", default: String(DEFAULT_ISSUER_PORT) },
  },
});
const port = Number(values.port);
const issuerPort = Number(values["issuer-port"]);
for (const [name, n] of [["--port", port], ["--issuer-port", issuerPort]]) {
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    console.error(`[dev:edge] invalid ${name}`);
    process.exit(2);
  }
}

const log = (s) => console.log(`[dev:edge] ${s}`);
const scratch = await mkdtemp(join(tmpdir(), "mea-dev-edge-"));
let issuer;
let mf;
let stopping = false;

async function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  await mf?.dispose().catch(() => {});
  await issuer?.close().catch(() => {});
  await rm(scratch, { recursive: true, force: true });
  process.exit(code);
}
process.once("SIGINT", () => void stop(0));
process.once("SIGTERM", () => void stop(0));

try {
  issuer = await startDevIssuer({ port: issuerPort });
  log(`dev issuer on ${issuer.url} (tokens: npm run -s token)`);

  log("bundling the gateway and the Mastra Worker (wrangler deploy --dry-run)…");
  const [gateway, mastra] = await Promise.all([
    dryRunBundle({ outdir: join(scratch, "gateway"), config: join(ROOT, "wrangler.toml") }),
    dryRunBundle({ outdir: join(scratch, "mastra-worker"), config: TEMPLATE_CONFIG }),
  ]);

  // One secret for both sides, new on every start: the gateway signs, the Mastra Worker verifies.
  const secret = randomBytes(32).toString("base64url");
  // The origin the gateway addresses over the binding (no MASTRA_URL): the assertions' audience.
  const AUDIENCE = "https://mastra.internal";
  const { Miniflare } = await import("miniflare");
  mf = new Miniflare({
    workers: [
      await workerOptionsFor({
        config: join(ROOT, "wrangler.toml"),
        scriptPath: gateway.scriptPath,
        name: "gateway",
        port,
        vars: { CLERK_ISSUER: issuer.issuer, CLERK_JWKS_URI: issuer.jwksUrl, GATEWAY_ASSERTION_SECRET: secret, GATEWAY_ASSERTION_AUDIENCE: AUDIENCE, LOG_LEVEL: "info" },
        serviceBindings: { MASTRA: "mastra-worker" },
      }),
      await workerOptionsFor({
        scriptPath: mastra.scriptPath,
        name: "mastra-worker",
        vars: { MASTRA_AUTH: "gateway", GATEWAY_ASSERTION_SECRET: secret, GATEWAY_ASSERTION_AUDIENCE: AUDIENCE, LOG_LEVEL: "warn" },
      }),
    ],
    // Local D1, KV and Durable Object state for this session only.
    d1Persist: join(scratch, "d1"),
    kvPersist: join(scratch, "kv"),
    durableObjectsPersist: join(scratch, "do"),
  });
  await mf.ready;
  const url = (await mf.unsafeGetDirectURL("gateway")).href.replace(/\/$/, "");
  log(`gateway on ${url} → MASTRA service binding → mastra-worker (no port of its own)`);
  log(`try: curl -H "Authorization: Bearer $(npm run -s token)" -H 'content-type: application/json' -d '{"messages":"What is the weather in Lisbon?","memory":{"thread":"t1"}}' ${url}/api/agents/weatherAgent/generate`);
  log("Ctrl-C stops everything");
} catch (error) {
  console.error(`[dev:edge] ${error instanceof Error ? error.message : error}`);
  await stop(1);
}
