// Builds what the benchmarks run besides the deployable bundles: esbuild bundles of the bench-only
// workers and of the Node verification suite (esbuild comes with wrangler). The deployable bundles
// (the gateway, the @clerk/backend comparison Worker) come from `wrangler deploy --dry-run` through
// scripts/lib/bundle.mjs, the helper the tests use too.

import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { build } from "esbuild";
import { ROOT } from "../../scripts/lib/bundle.mjs";

export { ROOT };
export const BENCH = join(ROOT, "bench");

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

/** Bundles a bench-only Worker for workerd with esbuild; returns the output path. */
export async function buildBenchWorker(entry, outfile) {
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
