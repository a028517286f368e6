// The template Mastra Worker (examples/mastra-worker) as it would be deployed: its
// `wrangler deploy --dry-run` bundle, run in workerd by Miniflare on a loopback port. Shared by
// test/node/mastra-worker-bundle.test.ts, bench/sections/mastra-worker.mjs and scripts/dev-edge.mjs.

import { execFile } from "node:child_process";
import { readdir, readFile, rm } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";

const run = promisify(execFile);

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const TEMPLATE_CONFIG = join(ROOT, "examples", "mastra-worker", "wrangler.toml");
const OFFLINE_ENV = { WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true" };
const WRANGLER = join(ROOT, "node_modules", ".bin", "wrangler");
/** The free plan's limit on a Worker's gzipped size. */
export const FREE_PLAN_GZIP_BYTES = 3 * 1024 * 1024;

/**
 * `wrangler deploy --dry-run --outdir` of a wrangler config (default: the template's).
 * @param {{ outdir: string, config?: string, timeoutMs?: number }} o
 * @returns {Promise<{ outdir: string, scriptPath: string, bytes: number, gzipBytes: number, wranglerLine: string | null, stdout: string }>}
 */
export async function dryRunBundle({ outdir, config = TEMPLATE_CONFIG, timeoutMs = 180_000 }) {
  await rm(outdir, { recursive: true, force: true });
  const { stdout } = await run(WRANGLER, ["deploy", "--dry-run", "--config", config, "--outdir", outdir], {
    cwd: ROOT,
    // As a deploy bundles it (wrangler inlines process.env.NODE_ENV).
    env: { ...process.env, ...OFFLINE_ENV, NODE_ENV: "production" },
    timeout: timeoutMs,
    maxBuffer: 16 * 1024 * 1024,
  });
  const file = (await readdir(outdir)).find((f) => f.endsWith(".js"));
  if (!file) throw new Error(`wrangler deploy --dry-run wrote no bundle for ${config}`);
  const code = await readFile(join(outdir, file));
  return {
    outdir,
    scriptPath: join(outdir, file),
    bytes: code.length,
    gzipBytes: gzipSync(code).length,
    wranglerLine: /Total Upload: ([^\n]+)/.exec(stdout)?.[1]?.trim() ?? null,
    stdout,
  };
}

/**
 * Miniflare options for a dry-run bundle of a wrangler config: the config's bindings (D1, KV,
 * vars, flags), the bundle as the script, its .wasm side modules loaded as wrangler uploads them.
 * @param {{ config?: string, scriptPath: string, name?: string, vars?: Record<string, string>, serviceBindings?: object, port?: number }} o
 */
export async function workerOptionsFor({ config = TEMPLATE_CONFIG, scriptPath, name = "mastra-worker", vars = {}, serviceBindings, port }) {
  const { unstable_getMiniflareWorkerOptions } = await import("wrangler");
  const { workerOptions } = unstable_getMiniflareWorkerOptions(config);
  // The modules listed as wrangler uploads them: the bundle and its .wasm side files (Miniflare
  // cannot follow the bundle's own imports: it holds `import(specifier)` calls it cannot resolve).
  const outdir = dirname(scriptPath);
  const files = await readdir(outdir);
  const modules = [
    { type: "ESModule", path: scriptPath },
    ...files.filter((f) => f.endsWith(".wasm")).map((f) => ({ type: "CompiledWasm", path: join(outdir, f) })),
  ];
  return {
    ...workerOptions,
    name,
    modules,
    modulesRoot: outdir,
    bindings: { ...workerOptions.bindings, ...vars },
    ...(serviceBindings ? { serviceBindings: { ...workerOptions.serviceBindings, ...serviceBindings } } : {}),
    ...(port === undefined ? {} : { unsafeDirectSockets: [{ host: "127.0.0.1", port }] }),
  };
}

/**
 * Starts one bundle in its own workerd (a new isolate) on a loopback port.
 * @param {{ scriptPath: string, config?: string, vars?: Record<string, string>, inspect?: boolean, name?: string }} o
 * @returns {Promise<{ mf: import("miniflare").Miniflare, url: string, name: string, dispose: () => Promise<void> }>}
 */
export async function startBundle({ scriptPath, config, vars, inspect = false, name = "mastra-worker" }) {
  const { Miniflare } = await import("miniflare");
  const mf = new Miniflare({
    workers: [await workerOptionsFor({ config, scriptPath, name, vars, port: 0 })],
    ...(inspect ? { inspectorPort: 0 } : {}),
  });
  await mf.ready;
  const url = (await mf.unsafeGetDirectURL(name)).href.replace(/\/$/, "");
  return { mf, url, name, dispose: () => mf.dispose() };
}
