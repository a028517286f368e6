// The deploy bundle's size budget (issue #14): the test that fails above it
// (test/node/deploy.test.ts) and `npm run bench` (BENCHMARKS.md §4) read it from here.

/** `wrangler deploy --dry-run` of wrangler.toml, gzipped (zlib level 6), at most this many KiB. */
export const BUNDLE_BUDGET_KIB = 40;

/**
 * The bundle's largest contributors from esbuild's metafile: each source file, and each package
 * summed over its files (`jose`), by the bytes it left in the bundle before gzip, largest first.
 * @param {{ path: string, bytes: number }[]} contributions  bundleWorker({ metafile: true }).contributions
 * @param {number} [top]
 * @returns {{ name: string, bytes: number, share: number }[]}
 */
export function largestContributors(contributions, top = 12) {
  const total = contributions.reduce((n, c) => n + c.bytes, 0);
  const byName = new Map();
  for (const { path, bytes } of contributions) {
    const pkg = /^node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path)?.[1];
    const name = pkg ? `${pkg} (package)` : path;
    byName.set(name, (byName.get(name) ?? 0) + bytes);
  }
  return [...byName]
    .map(([name, bytes]) => ({ name, bytes, share: total > 0 ? bytes / total : 0 }))
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, top);
}

/** The contributors as lines of text, for a failing test or a log. */
export function describeContributors(rows) {
  return rows.map((r) => `  ${String(r.bytes).padStart(7)} B  ${(r.share * 100).toFixed(1).padStart(5)} %  ${r.name}`).join("\n");
}
