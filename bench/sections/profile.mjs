// §5 Where the time goes: per-call costs of the gateway's parts inside workerd (breakdown worker),
// and a V8 CPU profile of the real gateway bundle under load (through workerd's inspector).

import { join } from "node:path";
import { Miniflare } from "miniflare";
import { buildBenchWorker } from "../lib/build.mjs";
import { throughput } from "../lib/load.mjs";
import { profileWhile } from "../lib/profile.mjs";
import { median } from "../lib/stats.mjs";
import { COMPATIBILITY_DATE, startGateway } from "../lib/workers.mjs";
import { OVERHEAD_PATH } from "./overhead.mjs";

/**
 * @param {{ keyServer, upstream, token: string, gatewayBundle: string, buildDir: string, iterations: number, cycles: number, profileS: number, log: (s: string) => void }} o
 */
export async function benchProfile(o) {
  o.log(`  breakdown: ${o.cycles} rounds of ${o.iterations} calls per part`);
  const scriptPath = await buildBenchWorker("bench/breakdown-worker.ts", join(o.buildDir, "breakdown-worker.js"));
  const mf = new Miniflare({ modules: true, scriptPath, compatibilityDate: COMPATIBILITY_DATE, compatibilityFlags: ["enable_request_signal"] });
  let breakdown;
  try {
    const response = await mf.dispatchFetch("http://bench.local/", {
      method: "POST",
      body: JSON.stringify({ token: o.token, jwksUrl: o.keyServer.jwksUrl, issuer: o.keyServer.issuer, iterations: o.iterations, cycles: o.cycles }),
    });
    const json = await response.json();
    if (!response.ok) throw new Error(`breakdown worker: ${json.error}`);
    breakdown = Object.entries(json.usPerCall).map(([part, rounds]) => ({ part, us: median(rounds), rounds }));
  } finally {
    await mf.dispose();
  }

  o.log(`  CPU profile of the gateway bundle under load, ${o.profileS} s`);
  const gateway = await startGateway({
    scriptPath: o.gatewayBundle,
    vars: { CLERK_JWKS_URI: o.keyServer.jwksUrl, CLERK_ISSUER: o.keyServer.issuer, MASTRA_URL: o.upstream.url, LOG_LEVEL: "error" },
    inspect: true,
  });
  let cpu;
  try {
    const load = () => throughput(gateway.url + OVERHEAD_PATH, { headers: { authorization: `Bearer ${o.token}` }, connections: 8, durationS: o.profileS });
    await load();
    cpu = await profileWhile(gateway.mf, "gateway", o.gatewayBundle, load);
  } finally {
    await gateway.dispose();
  }
  return { breakdown, cpu };
}
