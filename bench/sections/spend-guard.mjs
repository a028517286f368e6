// Spend guard: what it costs a route it does not limit. Two copies of the gateway bundle in one
// workerd process (each on its own direct socket), with every binding wrangler.toml declares (KV,
// the RL_AGENT Rate Limiting binding, the SpendCounter Durable Object) and the same vars but one:
//   off — RATE_LIMITS and QUOTAS empty: the guard is not even installed;
//   on  — the shipped RATE_LIMITS plus a daily QUOTAS entry: every request is matched against them.
// Both serve an authenticated GET /api/agents/weather (no limit matches it) forwarded to the
// loopback upstream. autocannon drives them in interleaved rounds (off/on, on/off, …) so drift on a
// shared machine hits both alike; the result is the median of per-round throughput ratios, with
// its distribution-free 95% interval, and workerd's CPU time per request.

import { loadavg } from "node:os";
import { dirname, join } from "node:path";
import { Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { ROOT } from "../../scripts/lib/bundle.mjs";
import { mintClerkToken } from "../../scripts/lib/clerk-token.mjs";
import { throughput } from "../lib/load.mjs";
import { CLOCK_TICKS, cpuTicks, workerdPid } from "../lib/process.mjs";
import { median, medianInterval, spread } from "../lib/stats.mjs";

export const SPEND_GUARD_ROUTE = "/api/agents/weather";
/** The budget: the guarded gateway keeps at least this share of the unguarded one's throughput. */
export const SPEND_GUARD_BUDGET = 0.95;

/**
 * @param {{ key, upstream, gatewayBundle: string, rounds: number, seconds: number, connections: number, warmupS: number, log: (s: string) => void }} o
 *   key: the bench signing key (newSigningKey); verification is networkless (CLERK_JWT_KEY), so
 *   both copies do the same work per request and none of it is key traffic.
 */
export async function benchSpendGuard(o) {
  const issuer = "http://127.0.0.1:1";
  const token = await mintClerkToken(o.key, { issuer, sub: "user_bench", org: { id: "org_bench", role: "member" }, ttlSeconds: 3600 });
  const { workerOptions } = unstable_getMiniflareWorkerOptions(join(ROOT, "wrangler.toml"));
  const shipped = workerOptions.bindings ?? {};
  const common = { ...shipped, CLERK_JWT_KEY: o.key.pem, CLERK_ISSUER: issuer, MASTRA_URL: o.upstream.url, LOG_LEVEL: "error" };
  const quota = JSON.stringify([{ id: "daily", key: "user", limit: 100000, methods: ["POST"], path: ["/api/agents/*/generate*", "/api/agents/*/stream*"] }]);
  const configs = {
    off: { ...common, RATE_LIMITS: "", QUOTAS: "" },
    on: { ...common, RATE_LIMITS: shipped.RATE_LIMITS, QUOTAS: quota },
  };
  if (!configs.on.RATE_LIMITS) throw new Error("wrangler.toml ships no RATE_LIMITS: nothing to measure");

  // One workerd process serving both Workers: the two differ in their vars only, not in which
  // process or thread serves them.
  const mf = new Miniflare({
    workers: Object.entries(configs).map(([name, bindings]) => ({
      ...workerOptions,
      name,
      modules: true,
      scriptPath: o.gatewayBundle,
      modulesRoot: dirname(o.gatewayBundle),
      bindings,
      unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
    })),
  });
  try {
    await mf.ready;
    const headers = { authorization: `Bearer ${token}` };
    const urls = {};
    for (const name of Object.keys(configs)) {
      urls[name] = (await mf.unsafeGetDirectURL(name)).href.replace(/\/$/, "");
      // Both must answer the route the same way, and only "on" may put the guard on a limited one.
      const probe = await fetch(`${urls[name]}${SPEND_GUARD_ROUTE}`, { headers });
      if (probe.status !== 200) throw new Error(`${name}: ${SPEND_GUARD_ROUTE} answered ${probe.status} ${await probe.text()}`);
      if (probe.headers.has("ratelimit-policy")) throw new Error(`${name}: ${SPEND_GUARD_ROUTE} is limited; pick a route no limit matches`);
      await probe.arrayBuffer();
      const limited = await fetch(`${urls[name]}/api/agents/weather/generate`, { method: "POST", headers: { ...headers, "content-type": "application/json" }, body: "{}" });
      await limited.arrayBuffer();
      if (limited.headers.has("ratelimit-policy") !== (name === "on")) throw new Error(`${name}: the guard is ${name === "on" ? "not " : ""}installed`);
    }

    // workerd's own CPU time per request: far less sensitive to other load on the machine than
    // throughput, and it is the resource the guard would spend.
    const workerd = await workerdPid();
    const measure = async (name, durationS) => {
      const before = workerd ? await cpuTicks(workerd) : 0;
      const r = await throughput(`${urls[name]}${SPEND_GUARD_ROUTE}`, { headers, connections: o.connections, durationS });
      const cpu = workerd ? (await cpuTicks(workerd)) - before : NaN;
      return { ...r, cpuUs: (cpu * (1e6 / CLOCK_TICKS)) / r.requests };
    };

    for (const name of Object.keys(urls)) await measure(name, o.warmupS); // JIT and connection warm-up
    const samples = { off: [], on: [] };
    o.log(`  ${o.rounds} interleaved rounds of ${o.seconds} s per side, ${o.connections} connections`);
    for (let round = 0; round < o.rounds; round++) {
      for (const name of round % 2 ? ["on", "off"] : ["off", "on"]) samples[name].push(await measure(name, o.seconds));
    }

    const ratios = samples.on.map((s, i) => s.rps / samples.off[i].rps);
    const of = (list, field) => median(list.map((s) => s[field]));
    const side = (list) => ({ rps: of(list, "rps"), p50Ms: of(list, "p50Ms"), p99Ms: of(list, "p99Ms"), cpuUs: of(list, "cpuUs") });
    const ratioCi = medianInterval(ratios);
    return {
      route: SPEND_GUARD_ROUTE,
      rounds: o.rounds,
      seconds: o.seconds,
      connections: o.connections,
      off: side(samples.off),
      on: side(samples.on),
      ratio: median(ratios),
      ratioCi,
      cpuRatio: median(samples.on.map((s, i) => s.cpuUs / samples.off[i].cpuUs)),
      // How much the machine moved under the measurement: the spread of the baseline's rounds.
      noise: spread(samples.off.map((s) => s.rps)),
      loadAverage: loadavg()[0],
      budget: SPEND_GUARD_BUDGET,
      // met / not met / inconclusive (the interval straddles the budget).
      verdict: ratioCi[0] >= SPEND_GUARD_BUDGET ? "met" : ratioCi[1] < SPEND_GUARD_BUDGET ? "not met" : "inconclusive",
    };
  } finally {
    await mf.dispose();
  }
}
