// Builds what the benchmarks run: esbuild bundles of the bench workers (esbuild comes with
// wrangler), and `wrangler deploy --dry-run` bundles of the Worker and of the @clerk/backend
// comparison Worker, exactly as they would be uploaded.

import { execFile } from "node:child_process";
import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const BENCH = join(ROOT, "bench");
const run = promisify(execFile);
export const OFFLINE_ENV = { WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true" };

const WORKER_BUILD = {
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  // The package conditions wrangler uses for Workers (picks @clerk/backend's Web Crypto runtime).
  conditions: ["workerd", "worker", "browser"],
  mainFields: ["browser", "module", "main"],
  external: ["cloudflare:*", "node:*"],
  logLevel: "silent",
};

/** Bundles a bench Worker for workerd; returns the output path. */
export async function bundleWorker(entry, outfile) {
  await mkdir(dirname(outfile), { recursive: true });
  await build({ ...WORKER_BUILD, entryPoints: [join(ROOT, entry)], outfile });
  return outfile;
}

/** Bundles the verification suite for Node, packages left to Node's resolution (outfile must sit inside the repo). */
export async function bundleNodeSuite(outfile) {
  await mkdir(dirname(outfile), { recursive: true });
  await build({
    entryPoints: [join(BENCH, "verify-suite.ts")],
    outfile,
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    packages: "external",
    logLevel: "silent",
  });
  return outfile;
}

/**
 * `wrangler deploy --dry-run --outdir` for one wrangler config: the deployable bundle, its size
 * raw and gzipped (level 6, as `gzipSync` does by default, close to wrangler's own figure), and
 * wrangler's own "Total Upload" line.
 */
export async function dryRunBundle(configPath, outdir) {
  await rm(outdir, { recursive: true, force: true });
  const { stdout } = await run(join(ROOT, "node_modules", ".bin", "wrangler"), ["deploy", "--dry-run", "--config", configPath, "--outdir", outdir], {
    cwd: ROOT,
    // As a deploy would bundle it: wrangler inlines process.env.NODE_ENV, and under a test runner
    // (NODE_ENV=test) @clerk/backend bundles a fetch that workerd rejects ("Illegal invocation").
    env: { ...process.env, ...OFFLINE_ENV, NODE_ENV: "production" },
    timeout: 120_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  const file = (await readdir(outdir)).find((f) => f.endsWith(".js"));
  if (!file) throw new Error(`wrangler deploy --dry-run wrote no bundle for ${configPath}`);
  const code = await readFile(join(outdir, file));
  const upload = /Total Upload: ([^\n]+)/.exec(stdout)?.[1]?.trim() ?? null;
  return { path: join(outdir, file), bytes: code.length, gzipBytes: gzipSync(code).length, wranglerLine: upload };
}
