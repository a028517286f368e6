// §4 Size and start: the deployable bundles (wrangler deploy --dry-run) of the gateway and of the
// @clerk/backend Worker, and the time of the first authenticated request on a new isolate (a
// fresh workerd process per sample), samples interleaved across Workers.

import { cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SECRET_KEY } from "../lib/servers.mjs";
import { interleave, median } from "../lib/stats.mjs";
import { startClerkWorker, startGateway, startPassthrough } from "../lib/workers.mjs";
import { OVERHEAD_PATH } from "./overhead.mjs";

/**
 * @param {{ keyServer, upstream, token: string, gatewayBundle, clerkBundle, samples: number, log: (s: string) => void }} o
 *   gatewayBundle / clerkBundle: { path, bytes, gzipBytes, wranglerLine } of a `wrangler deploy --dry-run` bundle
 */
export async function benchStart(o) {
  const scratch = await mkdtemp(join(tmpdir(), "mea-bench-start-"));
  const vars = { CLERK_JWKS_URI: o.keyServer.jwksUrl, CLERK_ISSUER: o.keyServer.issuer, MASTRA_URL: o.upstream.url, LOG_LEVEL: "error" };
  try {
    // A KV directory holding the JWKS, as another isolate would have left it.
    const seeded = join(scratch, "seeded-kv");
    const seeder = await startGateway({ scriptPath: o.gatewayBundle.path, vars, kvPersist: seeded });
    try {
      await firstRequest(seeder.url, o.token);
      const kv = await seeder.mf.getKVNamespace("JWKS_CACHE");
      // The write happens in waitUntil after the response, and nothing signals its end: poll for
      // it (any key: the key's name is the gateway's business), for as long as a loaded machine
      // may need (30 s), not a fixed count of short sleeps.
      const written = async () => (await kv.list()).keys.length > 0;
      const deadline = Date.now() + 30_000;
      while (!(await written()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      if (!(await written())) throw new Error("the seeding isolate wrote no JWKS to KV");
    } finally {
      await seeder.dispose();
    }

    let n = 0;
    const starters = {
      passthrough: () => startPassthrough({ upstreamUrl: o.upstream.url }),
      "gateway (cold KV)": () => startGateway({ scriptPath: o.gatewayBundle.path, vars, kvPersist: join(scratch, `cold-${n++}`) }),
      "gateway (warm KV)": async () => {
        const dir = join(scratch, `warm-${n++}`);
        await cp(seeded, dir, { recursive: true });
        return startGateway({ scriptPath: o.gatewayBundle.path, vars, kvPersist: dir });
      },
      // Diagnostic, not a deployment: the same gateway without a KV binding, to show what
      // Miniflare's local KV simulation adds to a first request.
      "gateway (no KV binding)": () => startGateway({ scriptPath: o.gatewayBundle.path, vars, withoutKv: true }),
      "clerk-backend": () => startClerkWorker({ scriptPath: o.clerkBundle.path, apiUrl: o.keyServer.url, secretKey: SECRET_KEY, upstreamUrl: o.upstream.url }),
    };
    o.log(`  first request: ${Object.keys(starters).length} Workers × ${o.samples} fresh isolates`);
    const samples = await interleave(Object.keys(starters), o.samples, async (name) => {
      const startedAt = performance.now();
      const worker = await starters[name]();
      try {
        const readyMs = performance.now() - startedAt;
        return { readyMs, firstMs: await firstRequest(worker.url, o.token) };
      } finally {
        await worker.dispose();
      }
    });
    const firstRequestMs = {};
    for (const [name, s] of Object.entries(samples)) {
      firstRequestMs[name] = { firstMs: median(s.map((x) => x.firstMs)), readyMs: median(s.map((x) => x.readyMs)), samples: s.map((x) => x.firstMs) };
    }
    return {
      bundles: {
        gateway: { bytes: o.gatewayBundle.bytes, gzipBytes: o.gatewayBundle.gzipBytes, wrangler: o.gatewayBundle.wranglerLine },
        "clerk-backend": { bytes: o.clerkBundle.bytes, gzipBytes: o.clerkBundle.gzipBytes, wrangler: o.clerkBundle.wranglerLine },
      },
      firstRequestMs,
      samples: o.samples,
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

async function firstRequest(url, token) {
  const start = performance.now();
  const response = await fetch(url + OVERHEAD_PATH, { headers: { authorization: `Bearer ${token}` } });
  await response.arrayBuffer();
  if (response.status !== 200) throw new Error(`${url}: first request answered ${response.status}`);
  return performance.now() - start;
}
