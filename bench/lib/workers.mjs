// Starts the Workers under test in Miniflare (workerd), each exposed on its own 127.0.0.1 port
// through a direct socket: no dev proxy and no Miniflare entry worker in front of it.

import { join } from "node:path";
import { Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { BENCH, ROOT } from "./build.mjs";
import { workerdPid } from "./process.mjs";

export const COMPATIBILITY_DATE = "2026-05-01";

async function start(workerOptions, shared = {}) {
  const mf = new Miniflare({
    ...shared,
    workers: [{ ...workerOptions, unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] }],
  });
  await mf.ready;
  const url = await mf.unsafeGetDirectURL(workerOptions.name);
  // Each Worker runs in a workerd of its own: the newest one this process started is its process
  // (for CPU time from /proc; null where there is no /proc).
  const pid = await workerdPid();
  return { mf, url: url.href.replace(/\/$/, ""), pid, dispose: () => mf.dispose() };
}

/**
 * The gateway as deployed: the `wrangler deploy --dry-run` bundle with every binding wrangler.toml
 * declares (KV, rate limits, Durable Objects), its vars overridden to point at loopback stand-ins.
 * @param {{ scriptPath: string, vars: Record<string, string>, kvPersist?: string, inspect?: boolean, withoutKv?: boolean }} o
 *   inspect: open workerd's V8 inspector (for CPU profiles; never while measuring speed)
 *   withoutKv: drop the JWKS_CACHE binding (a diagnostic of what local KV costs)
 */
export async function startGateway(o) {
  const { workerOptions } = unstable_getMiniflareWorkerOptions(join(ROOT, "wrangler.toml"));
  return start(
    {
      ...workerOptions,
      name: "gateway",
      modules: true,
      scriptPath: o.scriptPath,
      bindings: { ...workerOptions.bindings, ...o.vars },
      ...(o.withoutKv ? { kvNamespaces: {} } : {}),
    },
    { ...(o.kvPersist ? { kvPersist: o.kvPersist } : {}), ...(o.inspect ? { inspectorPort: 0 } : {}) },
  );
}

/** The pass-through baseline (bench/passthrough-worker.js). */
export function startPassthrough({ upstreamUrl }) {
  return start({
    name: "passthrough",
    modules: true,
    scriptPath: join(BENCH, "passthrough-worker.js"),
    compatibilityDate: COMPATIBILITY_DATE,
    bindings: { UPSTREAM_URL: upstreamUrl },
  });
}

/**
 * The pass-through Worker (with a do-nothing SpendCounter class) given every binding the gateway
 * gets from wrangler.toml: what Miniflare's local KV, Durable Object and rate-limit simulations
 * add to start-up, whatever the script (a diagnostic of §4).
 */
export function startPassthroughWithGatewayBindings({ upstreamUrl, kvPersist }) {
  const { workerOptions } = unstable_getMiniflareWorkerOptions(join(ROOT, "wrangler.toml"));
  return start(
    { ...workerOptions, name: "passthrough-bindings", modules: true, scriptPath: join(BENCH, "passthrough-bindings-worker.js"), bindings: { ...workerOptions.bindings, UPSTREAM_URL: upstreamUrl } },
    kvPersist ? { kvPersist } : {},
  );
}

/** The Worker on Hono's own `hono/jwk` middleware (bench/hono-jwk-worker), from its dry-run bundle. */
export function startHonoJwkWorker({ scriptPath, jwksUrl, issuer, upstreamUrl }) {
  return start({
    name: "hono-jwk",
    modules: true,
    scriptPath,
    compatibilityDate: COMPATIBILITY_DATE,
    bindings: { CLERK_JWKS_URI: jwksUrl, CLERK_ISSUER: issuer, MASTRA_URL: upstreamUrl },
  });
}

/** The @clerk/backend comparison Worker (bench/clerk-worker), from its dry-run bundle. */
export function startClerkWorker({ scriptPath, apiUrl, secretKey, upstreamUrl }) {
  return start({
    name: "clerk-backend",
    modules: true,
    scriptPath,
    compatibilityDate: COMPATIBILITY_DATE,
    bindings: { CLERK_API_URL: apiUrl, CLERK_SECRET_KEY: secretKey, MASTRA_URL: upstreamUrl },
  });
}

/** A bench-only Worker bundle with bindings given as is. */
export function startBundle({ name, scriptPath, ...rest }) {
  return start({ name, modules: true, scriptPath, compatibilityDate: COMPATIBILITY_DATE, ...rest });
}
