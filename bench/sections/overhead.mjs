// §2 Gateway overhead: the real Worker bundle vs a pass-through Worker (and the @clerk/backend
// Worker), same runtime, same loopback upstream, same load generator, rounds interleaved.

import { throughput, serialLatency } from "../lib/load.mjs";
import { SECRET_KEY } from "../lib/servers.mjs";
import { interleave, median, pairedRatio, spread } from "../lib/stats.mjs";
import { startClerkWorker, startGateway, startPassthrough } from "../lib/workers.mjs";

export const OVERHEAD_PATH = "/api/agents";

/**
 * @param {{ keyServer, upstream, token: string, gatewayBundle: string, clerkBundle: string,
 *   durationS: number, cycles: number, connections: number, latencyCount: number, warmupS: number, log: (s: string) => void }} o
 */
export async function benchOverhead(o) {
  const workers = {
    passthrough: await startPassthrough({ upstreamUrl: o.upstream.url }),
    gateway: await startGateway({
      scriptPath: o.gatewayBundle,
      vars: { CLERK_JWKS_URI: o.keyServer.jwksUrl, CLERK_ISSUER: o.keyServer.issuer, MASTRA_URL: o.upstream.url, LOG_LEVEL: "error" },
    }),
    "clerk-backend": await startClerkWorker({ scriptPath: o.clerkBundle, apiUrl: o.keyServer.url, secretKey: SECRET_KEY, upstreamUrl: o.upstream.url }),
  };
  try {
    const headers = { authorization: `Bearer ${o.token}` };
    const subjects = Object.keys(workers);
    const url = (subject) => workers[subject].url + OVERHEAD_PATH;
    // Warm-up: JIT, the key loads (the gateway's and @clerk/backend's), connection pools.
    for (const subject of subjects) await throughput(url(subject), { headers, connections: o.connections, durationS: o.warmupS });

    const fetchesBefore = o.keyServer.fetches();
    o.log(`  throughput: ${subjects.length} Workers × ${o.cycles} rounds of ${o.durationS} s, ${o.connections} connections`);
    const load = await interleave(subjects, o.cycles, (subject) => throughput(url(subject), { headers, connections: o.connections, durationS: o.durationS }));
    o.log(`  latency: ${subjects.length} Workers × ${o.cycles} rounds of ${o.latencyCount} serial requests`);
    const latency = await interleave(subjects, o.cycles, (subject) => serialLatency(url(subject), { headers, count: o.latencyCount }));
    const gatewayRequests = load.gateway.reduce((n, r) => n + r.requests, 0) + o.cycles * o.latencyCount;
    const originFetches = o.keyServer.fetches() - fetchesBefore;

    const out = { path: OVERHEAD_PATH, connections: o.connections, durationS: o.durationS, cycles: o.cycles, latencyCount: o.latencyCount, workers: {} };
    for (const subject of subjects) {
      const rps = load[subject].map((r) => r.rps);
      out.workers[subject] = {
        rps: median(rps),
        rpsRounds: rps,
        rpsSpread: spread(rps),
        loadedP50Ms: median(load[subject].map((r) => r.p50Ms)),
        loadedP99Ms: median(load[subject].map((r) => r.p99Ms)),
        p50Us: median(latency[subject].map((r) => r.p50Us)),
        p99Us: median(latency[subject].map((r) => r.p99Us)),
      };
    }
    const diff = (subject, field) => median(latency[subject].map((r, i) => r[field] - latency.passthrough[i][field]));
    out.ratios = {
      gatewayVsPassthroughRps: pairedRatio(load.gateway.map((r) => r.rps), load.passthrough.map((r) => r.rps)),
      clerkVsPassthroughRps: pairedRatio(load["clerk-backend"].map((r) => r.rps), load.passthrough.map((r) => r.rps)),
      gatewayVsClerkRps: pairedRatio(load.gateway.map((r) => r.rps), load["clerk-backend"].map((r) => r.rps)),
      gatewayAddedP50Us: diff("gateway", "p50Us"),
      gatewayAddedP99Us: diff("gateway", "p99Us"),
      clerkAddedP50Us: diff("clerk-backend", "p50Us"),
    };
    out.keyTraffic = { gatewayRequests, originFetches, originFetchesPer100k: (originFetches / gatewayRequests) * 100_000 };
    return out;
  } finally {
    for (const w of Object.values(workers)) await w.dispose();
  }
}
