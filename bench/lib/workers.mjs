// Starts the Workers under test in Miniflare (workerd), each exposed on its own 127.0.0.1 port
// through a direct socket: no dev proxy and no Miniflare entry worker in front of it.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { BENCH, ROOT } from "./build.mjs";
import { workerdPid } from "./process.mjs";

export const COMPATIBILITY_DATE = "2026-05-01";

/**
 * Starts one Worker; `readyMs` is the time from `new Miniflare()` to `ready` (workerd spawned, the
 * script compiled and evaluated, its socket listening). Everything this process must prepare is
 * done before the clock starts (see {@link scriptModules}, {@link wranglerWorkerOptions}).
 */
async function start(workerOptions, shared = {}) {
  const { scriptPath, ...rest } = workerOptions;
  const options = {
    ...shared,
    workers: [{ ...rest, ...(scriptPath ? { modules: scriptModules(scriptPath) } : {}), unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] }],
  };
  const startedAt = performance.now();
  const mf = new Miniflare(options);
  await mf.ready;
  const readyMs = performance.now() - startedAt;
  const url = await mf.unsafeGetDirectURL(workerOptions.name);
  // Each Worker runs in a workerd of its own: the newest one this process started is its process
  // (for CPU time from /proc; null where there is no /proc).
  const pid = await workerdPid();
  return { mf, url: url.href.replace(/\/$/, ""), pid, readyMs, dispose: () => mf.dispose() };
}

const modulesByPath = new Map();

/**
 * A bundle given to Miniflare as the one ES module it is, contents included. Given a `scriptPath`
 * alone, Miniflare parses the script with acorn in this Node process to find its imports before it
 * starts workerd: for the gateway's 111 KiB that was ~100 ms of the 260 ms "start to ready" the
 * bench reported (measured 2026-11-30: 257 → 160 ms), time no deployed Worker ever spends. Every
 * Worker of the bench is one file (a wrangler or esbuild bundle), so nothing is lost.
 */
function scriptModules(scriptPath) {
  let modules = modulesByPath.get(scriptPath);
  if (!modules) {
    modules = [{ type: "ESModule", path: scriptPath, contents: readFileSync(scriptPath, "utf8") }];
    modulesByPath.set(scriptPath, modules);
  }
  return modules;
}

const optionsByConfig = new Map();

/** wrangler.toml read and turned into Miniflare options once per file, not on every start. */
function wranglerWorkerOptions(config) {
  let options = optionsByConfig.get(config);
  if (!options) {
    options = unstable_getMiniflareWorkerOptions(config).workerOptions;
    optionsByConfig.set(config, options);
  }
  return options;
}

/**
 * The gateway as deployed: the `wrangler deploy --dry-run` bundle with every binding wrangler.toml
 * declares (KV, rate limits, Durable Objects), its vars overridden to point at loopback stand-ins.
 * @param {{ scriptPath: string, vars: Record<string, string>, kvPersist?: string, inspect?: boolean, withoutKv?: boolean }} o
 *   inspect: open workerd's V8 inspector (for CPU profiles; never while measuring speed)
 *   withoutKv: drop the JWKS_CACHE binding (a diagnostic of what local KV costs)
 */
export async function startGateway(o) {
  const workerOptions = wranglerWorkerOptions(join(ROOT, "wrangler.toml"));
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

/** A one-file Worker of bench/ with the given bindings (and further Worker options). */
function startBenchScript(file, bindings, options = {}, shared = {}) {
  return start({ name: file.replace(/\.js$/, ""), modules: true, scriptPath: join(BENCH, file), compatibilityDate: COMPATIBILITY_DATE, bindings, ...options }, shared);
}

/** The pass-through baseline (bench/passthrough-worker.js). */
export function startPassthrough({ upstreamUrl }) {
  return startBenchScript("passthrough-worker.js", { UPSTREAM_URL: upstreamUrl });
}

/**
 * The pass-through Worker (with a do-nothing SpendCounter class) given every binding the gateway
 * gets from wrangler.toml: what Miniflare's local KV, Durable Object and rate-limit simulations
 * add to start-up, whatever the script (a diagnostic of §4).
 */
export function startPassthroughWithGatewayBindings({ upstreamUrl, kvPersist }) {
  const workerOptions = wranglerWorkerOptions(join(ROOT, "wrangler.toml"));
  return start(
    { ...workerOptions, name: "passthrough-bindings", modules: true, scriptPath: join(BENCH, "passthrough-bindings-worker.js"), bindings: { ...workerOptions.bindings, UPSTREAM_URL: upstreamUrl } },
    kvPersist ? { kvPersist } : {},
  );
}

/** §2's diagnostic: the pass-through that forwards an identity as any such proxy must (bench/passthrough-identity-worker.js). */
export function startPassthroughForwardingIdentity({ upstreamUrl }) {
  return startBenchScript("passthrough-identity-worker.js", { UPSTREAM_URL: upstreamUrl });
}

/** §4's diagnostic: the pass-through that first reads `key` from a KV (bench/passthrough-kv-worker.js). */
export function startPassthroughReadingKv({ upstreamUrl, kvPersist, key }) {
  return startBenchScript("passthrough-kv-worker.js", { UPSTREAM_URL: upstreamUrl, KV_KEY: key }, { kvNamespaces: { JWKS_CACHE: "JWKS_CACHE" } }, { kvPersist });
}

/** §4's diagnostic: the pass-through that first fetches the JWKS (bench/passthrough-jwks-worker.js). */
export function startPassthroughFetchingJwks({ upstreamUrl, jwksUrl }) {
  return startBenchScript("passthrough-jwks-worker.js", { UPSTREAM_URL: upstreamUrl, JWKS_URL: jwksUrl });
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
