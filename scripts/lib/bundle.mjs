// The one way tests and benchmarks bundle a Worker: `wrangler deploy --dry-run --outdir`, offline,
// exactly the esbuild step a deploy runs. Used by bench/ and test/node/ alike (types: bundle.d.mts).

import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";

const run = promisify(execFile);

/** The repository root (scripts/lib/../..). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Keeps wrangler off the network: no telemetry, no `cf` object fetch, no update banner. */
export const OFFLINE_ENV = Object.freeze({ WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true" });

const WRANGLER = join(ROOT, "node_modules", ".bin", "wrangler");

/**
 * Bundles a Worker with `wrangler deploy --dry-run`.
 *
 * - `config`: a wrangler config file (`-c`); default: the project's wrangler.toml (wrangler finds it from `cwd`).
 * - `entry`: a script to bundle without a config (wrangler's positional argument).
 * - `args`: further wrangler arguments (`--name`, `--compatibility-date`, …).
 * - `cwd`: where wrangler runs; default the repository root.
 * - `env`: extra environment for wrangler, over `process.env`, OFFLINE_ENV and NODE_ENV=production.
 * - `outdir`: where the bundle goes; default a new temp directory (removed when `inMemory`).
 * - `inMemory`: read the bundle into `code` and remove the output directory.
 * - `metafile`: also write esbuild's metafile and return the input paths it lists, and what each
 *   input left in the bundle (`contributions`, bytes before gzip).
 * - `timeoutMs`: default 180000 (3 minutes; bundling takes seconds on a quiet machine, far longer on a busy one).
 *
 * NODE_ENV is "production" (as a deploy bundles it) unless `env` says otherwise: wrangler inlines
 * process.env.NODE_ENV, and under a test runner (NODE_ENV=test) @clerk/backend bundles a fetch that
 * workerd rejects ("Illegal invocation").
 *
 * @param {import("./bundle.d.mts").BundleOptions} [options]
 * @returns {Promise<import("./bundle.d.mts").Bundle>}
 */
export async function bundleWorker(options = {}) {
  const outdir = options.outdir ?? (await mkdtemp(join(tmpdir(), "mea-bundle-")));
  if (options.outdir) await rm(outdir, { recursive: true, force: true });
  const args = ["deploy", "--dry-run"];
  if (options.entry) args.push(options.entry);
  if (options.config) args.push("--config", options.config);
  args.push(...(options.args ?? []), "--outdir", outdir);
  if (options.metafile) args.push("--metafile", join(outdir, "meta.json"));
  try {
    const { stdout, stderr } = await run(WRANGLER, args, {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, ...OFFLINE_ENV, NODE_ENV: "production", ...options.env },
      timeout: options.timeoutMs ?? 180_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    const file = (await readdir(outdir)).find((f) => f.endsWith(".js"));
    if (!file) throw new Error(`wrangler deploy --dry-run wrote no bundle in ${outdir} (${options.config ?? options.entry ?? "wrangler.toml"})`);
    const scriptPath = join(outdir, file);
    const code = await readFile(scriptPath, "utf8");
    const bytes = Buffer.byteLength(code);
    const meta = options.metafile ? JSON.parse(await readFile(join(outdir, "meta.json"), "utf8")) : undefined;
    const inputs = meta ? Object.keys(meta.inputs) : undefined;
    // What each input left in the bundle (after tree shaking and minification), largest first.
    const output = meta ? Object.entries(meta.outputs).find(([path]) => path.endsWith(".js"))?.[1] : undefined;
    const contributions = output
      ? Object.entries(output.inputs)
          // The gateway is bundled from its eager copy of src/ (scripts/build-eager.mjs): named as src/.
          .map(([path, v]) => ({ path: path.replace(/^(\.\.\/)+/, "").replace(/^\.wrangler\/eager\//, "").replace(/^.*node_modules\//, "node_modules/"), bytes: v.bytesInOutput }))
          .filter((c) => c.bytes > 0)
          .sort((a, b) => b.bytes - a.bytes)
      : undefined;
    return {
      outdir: options.inMemory ? undefined : outdir,
      scriptPath: options.inMemory ? undefined : scriptPath,
      code,
      bytes,
      gzipBytes: gzipSync(code).length,
      wranglerLine: /Total Upload: ([^\n]+)/.exec(stdout)?.[1]?.trim() ?? null,
      stdout,
      stderr,
      inputs,
      contributions,
      dispose: () => (options.inMemory ? Promise.resolve() : rm(outdir, { recursive: true, force: true })),
    };
  } finally {
    if (options.inMemory) await rm(outdir, { recursive: true, force: true });
  }
}
