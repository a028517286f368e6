// §2 Gateway overhead: the real Worker bundle vs a pass-through Worker and the peer Workers a user
// would pick instead (@clerk/backend's verifyToken, Hono's own hono/jwk), same runtime, same
// loopback upstream, same load generator, rounds interleaved. Besides req/s, each round reads its
// workerd process's CPU time from /proc (user + system, before and after): workerd CPU per
// request, the unit Workers bill, and far less disturbed by a shared machine than throughput.

import { throughput, serialLatency } from "../lib/load.mjs";
import { CLOCK_TICKS, cpuTicks } from "../lib/process.mjs";
import { SECRET_KEY } from "../lib/servers.mjs";
import { interleave, median, pairedRatios, spread } from "../lib/stats.mjs";
import { startClerkWorker, startGateway, startHonoJwkWorker, startPassthrough, startPassthroughForwardingIdentity } from "../lib/workers.mjs";

export const OVERHEAD_PATH = "/api/agents";

/** The Workers a user could deploy instead of the gateway, each verifying and forwarding the same request. */
export const PEERS = ["clerk-backend", "hono-jwk"];

/** §2's diagnostic Worker (bench/passthrough-identity-worker.js). */
export const FORWARDING_FLOOR = "passthrough + identity headers";

/**
 * @param {{ keyServer, upstream, token: string, gatewayBundle: string, clerkBundle: string, honoJwkBundle: string,
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
    "hono-jwk": await startHonoJwkWorker({ scriptPath: o.honoJwkBundle, jwksUrl: o.keyServer.jwksUrl, issuer: o.keyServer.issuer, upstreamUrl: o.upstream.url }),
    // Diagnostic, not a peer: the floor of any proxy that forwards a verified identity (copies the
    // headers, sets identity headers, bounds the upstream call), with no verification at all.
    [FORWARDING_FLOOR]: await startPassthroughForwardingIdentity({ upstreamUrl: o.upstream.url }),
  };
  try {
    const headers = { authorization: `Bearer ${o.token}` };
    const subjects = Object.keys(workers);
    const url = (subject) => workers[subject].url + OVERHEAD_PATH;
    // Warm-up: JIT, the key loads (each Worker's own), connection pools.
    for (const subject of subjects) await throughput(url(subject), { headers, connections: o.connections, durationS: o.warmupS });

    const fetchesBefore = o.keyServer.fetches();
    o.log(`  throughput: ${subjects.length} Workers × ${o.cycles} rounds of ${o.durationS} s, ${o.connections} connections, workerd CPU from /proc`);
    const load = await interleave(subjects, o.cycles, async (subject) => {
      const pid = workers[subject].pid;
      const before = pid ? await cpuTicks(pid) : 0;
      const round = await throughput(url(subject), { headers, connections: o.connections, durationS: o.durationS });
      const ticks = pid ? (await cpuTicks(pid)) - before : NaN;
      return { ...round, cpuUsPerRequest: ((ticks / CLOCK_TICKS) * 1e6) / round.requests };
    });
    o.log(`  latency: ${subjects.length} Workers × ${o.cycles} rounds of ${o.latencyCount} serial requests`);
    const latency = await interleave(subjects, o.cycles, (subject) => serialLatency(url(subject), { headers, count: o.latencyCount }));
    const gatewayRequests = load.gateway.reduce((n, r) => n + r.requests, 0) + o.cycles * o.latencyCount;
    const originFetches = o.keyServer.fetches() - fetchesBefore;

    const out = { peers: PEERS, path: OVERHEAD_PATH, connections: o.connections, durationS: o.durationS, cycles: o.cycles, latencyCount: o.latencyCount, workers: {} };
    for (const subject of subjects) {
      const rps = load[subject].map((r) => r.rps);
      const cpu = load[subject].map((r) => r.cpuUsPerRequest);
      out.workers[subject] = {
        rps: median(rps),
        rpsRounds: rps,
        rpsSpread: spread(rps),
        cpuUsPerRequest: median(cpu),
        cpuRounds: cpu,
        cpuSpread: spread(cpu),
        loadedP50Ms: median(load[subject].map((r) => r.p50Ms)),
        loadedP99Ms: median(load[subject].map((r) => r.p99Ms)),
        p50Us: median(latency[subject].map((r) => r.p50Us)),
        p99Us: median(latency[subject].map((r) => r.p99Us)),
      };
    }
    const diff = (subject, field) => median(latency[subject].map((r, i) => r[field] - latency.passthrough[i][field]));
    const rpsOf = (subject) => load[subject].map((r) => r.rps);
    const cpuOf = (subject) => load[subject].map((r) => r.cpuUsPerRequest);
    // Per-cycle ratios (rounds measured back to back), kept whole so that a verdict can see their spread.
    out.cycleRatios = {
      gatewayVsPassthroughRps: pairedRatios(rpsOf("gateway"), rpsOf("passthrough")),
      ...Object.fromEntries(PEERS.map((p) => [`gatewayVs:${p}:rps`, pairedRatios(rpsOf("gateway"), rpsOf(p))])),
      ...Object.fromEntries(PEERS.map((p) => [`gatewayVs:${p}:cpu`, pairedRatios(cpuOf("gateway"), cpuOf(p))])),
    };
    out.ratios = {
      gatewayVsPassthroughRps: median(out.cycleRatios.gatewayVsPassthroughRps),
      clerkVsPassthroughRps: median(pairedRatios(rpsOf("clerk-backend"), rpsOf("passthrough"))),
      honoJwkVsPassthroughRps: median(pairedRatios(rpsOf("hono-jwk"), rpsOf("passthrough"))),
      gatewayVsClerkRps: median(out.cycleRatios["gatewayVs:clerk-backend:rps"]),
      gatewayVsHonoJwkRps: median(out.cycleRatios["gatewayVs:hono-jwk:rps"]),
      gatewayVsPassthroughCpu: median(pairedRatios(cpuOf("gateway"), cpuOf("passthrough"))),
      floorVsPassthroughRps: median(pairedRatios(rpsOf(FORWARDING_FLOOR), rpsOf("passthrough"))),
      gatewayVsFloorRps: median(pairedRatios(rpsOf("gateway"), rpsOf(FORWARDING_FLOOR))),
      gatewayAddedP50Us: diff("gateway", "p50Us"),
      gatewayAddedP99Us: diff("gateway", "p99Us"),
      clerkAddedP50Us: diff("clerk-backend", "p50Us"),
      honoJwkAddedP50Us: diff("hono-jwk", "p50Us"),
    };
    out.keyTraffic = { gatewayRequests, originFetches, originFetchesPer100k: (originFetches / gatewayRequests) * 100_000 };
    return out;
  } finally {
    for (const w of Object.values(workers)) await w.dispose();
  }
}
