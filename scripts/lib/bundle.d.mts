// Types of scripts/lib/bundle.mjs (imported from TypeScript tests and from the .mjs benchmarks).

/** The repository root. */
export declare const ROOT: string;

/** Keeps wrangler off the network: no telemetry, no `cf` object fetch, no update banner. */
export declare const OFFLINE_ENV: Readonly<{ WRANGLER_SEND_METRICS: "false"; CLOUDFLARE_CF_FETCH_ENABLED: "false"; WRANGLER_HIDE_BANNER: "true" }>;

export interface BundleOptions {
  /** A wrangler config file (`--config`). Default: the project's wrangler.toml, found from `cwd`. */
  config?: string;
  /** A script to bundle without a config (wrangler's positional argument). */
  entry?: string;
  /** Further wrangler arguments, e.g. `["--name", "x", "--compatibility-date", "2026-05-01"]`. */
  args?: string[];
  /** Where wrangler runs. Default: the repository root. */
  cwd?: string;
  /** Extra environment for wrangler, over `process.env`, OFFLINE_ENV and `NODE_ENV=production`. */
  env?: Record<string, string>;
  /** Output directory (emptied first). Default: a new temp directory. */
  outdir?: string;
  /** Read the bundle into `code` and remove the output directory. Default false. */
  inMemory?: boolean;
  /** Also write esbuild's metafile and return its input paths. Default false. */
  metafile?: boolean;
  /** Default 180000 (3 minutes). */
  timeoutMs?: number;
}

export interface Bundle {
  /** The output directory (undefined when `inMemory`). */
  outdir: string | undefined;
  /** The bundled script (undefined when `inMemory`). */
  scriptPath: string | undefined;
  /** The bundled script's code. */
  code: string;
  /** Size in bytes, raw and gzipped (zlib level 6, close to wrangler's own figure). */
  bytes: number;
  gzipBytes: number;
  /** wrangler's own "Total Upload" figure, if it printed one. */
  wranglerLine: string | null;
  stdout: string;
  stderr: string;
  /** esbuild's input paths, when `metafile` was asked for. */
  inputs: string[] | undefined;
  /** Bytes each input left in the bundle (after tree shaking and minification, before gzip), largest first; with `metafile`. */
  contributions: { path: string; bytes: number }[] | undefined;
  /** Removes the output directory (nothing to do when `inMemory`). */
  dispose(): Promise<void>;
}

export declare function bundleWorker(options?: BundleOptions): Promise<Bundle>;
