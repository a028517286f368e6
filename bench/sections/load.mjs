// Load: a bounded run against the gateway Worker in workerd, everything on 127.0.0.1:
//
//   key server (bench/lib/servers.mjs, counts JWKS fetches) ──┐
//   autocannon ──► gateway (wrangler bundle, workerd via Miniflare, direct socket) ──► node:http upstream
//
// The mix: valid tokens from a small hot set (verified-token cache hits), valid tokens from a large
// cold pool bigger than the verified-token cache (full verifications and cache eviction), and
// invalid tokens (bad signature, expired, wrong issuer, garbage, none) that must be 401. Every
// response is checked against what its request deserved. Measured: errors, unexpected statuses,
// origin JWKS fetches (counted at the key server), upstream requests, the RSS of the workerd
// process sampled once a second, and the isolate's JS heap through the inspector.
//
// `npm run bench -- --only load` runs it (`npm run load` is the same); `runLoad(options)` is the
// same run as a function (test/node/load-smoke.test.ts uses it with small counts).

import { once } from "node:events";
import { dirname } from "node:path";
import { createServer } from "node:http";
import { createInterface } from "node:readline";
import autocannon from "autocannon";
import { Miniflare } from "miniflare";
import { bundleWorker } from "../../scripts/lib/bundle.mjs";
import { mintClerkToken } from "../../scripts/lib/clerk-token.mjs";
import { machine } from "../lib/machine.mjs";
import { rssKiB, workerdPid } from "../lib/process.mjs";
import { heapProbe } from "../lib/profile.mjs";
import { newSigningKey, startKeyServer } from "../lib/servers.mjs";
import { COMPATIBILITY_DATE } from "../lib/workers.mjs";

export const LOAD_ROUTE = "/api/agents/weatherAgent/generate";
const BODY = JSON.stringify({ messages: "Weather in London?" });

export const LOAD_DEFAULTS = {
  connections: 200,
  durationS: 30,
  /** Distinct tokens in the hot set: after the first round they are verified-token cache hits. */
  hot: 200,
  /** Distinct tokens in the cold pool, cycled; more than the verified-token cache holds (10,000). */
  cold: 24_000,
  /** Shares of the traffic; the rest is hot. */
  coldShare: 0.3,
  invalidShare: 0.1,
  /** One request alone before the load: the cold start of the isolate is then not part of the run. */
  warmup: true,
  /** JWKS_CACHE_TTL_S of the gateway under load. */
  ttlS: 600,
  /**
   * Run a bare pass-through Worker instead of the gateway (no auth: every request is 200), to
   * tell workerd's own memory behaviour under this load from the gateway's.
   */
  baseline: false,
};

/** The baseline: forwards every request to MASTRA_URL and streams the answer back, nothing else. */
const PASS_THROUGH = `export default {
  fetch(request, env) {
    const url = new URL(request.url);
    return fetch(env.MASTRA_URL + url.pathname + url.search, { method: request.method, headers: request.headers, body: request.body });
  },
};`;

async function listen(server) {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return server.address().port;
}

function closeServer(server) {
  server.closeAllConnections();
  return new Promise((r) => server.close(() => r()));
}

async function mintAll(count, mint) {
  const out = [];
  for (let i = 0; i < count; i += 256) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(256, count - i) }, (_, j) => mint(i + j)))));
  }
  return out;
}

/**
 * @param {Partial<typeof LOAD_DEFAULTS> & { scriptPath?: string, log?: (line: string) => void }} [options]
 *   scriptPath: the gateway's `wrangler deploy --dry-run` bundle; bundled here when absent.
 */
export async function runLoad(options = {}) {
  const o = { ...LOAD_DEFAULTS, ...options };
  const log = options.log ?? (() => {});
  const closers = [];
  try {
    const key = await newSigningKey();
    const keyServer = await startKeyServer(key);
    closers.push(() => keyServer.close());
    const mint = (opts) => mintClerkToken(key, { issuer: keyServer.issuer, ...opts });

    const upstreamSeen = { total: 0, withoutIdentity: 0 };
    const upstream = createServer((req, res) => {
      upstreamSeen.total++;
      if (!o.baseline && !req.headers["x-clerk-user-id"]) upstreamSeen.withoutIdentity++;
      req.resume();
      req.on("end", () => res.writeHead(200, { "content-type": "application/json" }).end('{"text":"The weather in London is sunny."}'));
    });
    const upstreamPort = await listen(upstream);
    closers.push(() => closeServer(upstream));

    let code = { script: PASS_THROUGH };
    if (!o.baseline) {
      let scriptPath = options.scriptPath;
      if (!scriptPath) {
        log("bundling the gateway (wrangler deploy --dry-run)…");
        const bundle = await bundleWorker();
        closers.push(bundle.dispose);
        scriptPath = bundle.scriptPath;
      }
      // modulesRoot: module names are paths relative to it, and may not climb out of it.
      code = { scriptPath, modulesRoot: dirname(scriptPath) };
    } else {
      log("baseline: a bare pass-through Worker");
    }
    // workerd's own diagnostics, kept for the summary instead of interleaving with it.
    const workerdLog = [];
    const mf = new Miniflare({
      host: "127.0.0.1",
      port: 0,
      handleRuntimeStdio: (stdout, stderr) => {
        for (const stream of [stdout, stderr]) createInterface({ input: stream }).on("line", (line) => workerdLog.push(line));
      },
      inspectorPort: 0,
      workers: [
        {
          name: "gateway",
          modules: true,
          ...code,
          compatibilityDate: COMPATIBILITY_DATE,
          compatibilityFlags: ["enable_request_signal"],
          kvNamespaces: ["JWKS_CACHE"],
          // Straight onto workerd's socket: no Miniflare entry worker in front of the gateway.
          unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
          bindings: {
            CLERK_ISSUER: keyServer.issuer,
            CLERK_JWKS_URI: keyServer.jwksUrl,
            MASTRA_URL: `http://127.0.0.1:${upstreamPort}`,
            JWKS_CACHE_TTL_S: String(o.ttlS),
            LOG_LEVEL: "error",
          },
        },
      ],
    });
    closers.push(() => mf.dispose());
    await mf.ready;
    const url = await mf.unsafeGetDirectURL("gateway");
    const pid = await workerdPid();
    const heap = await heapProbe(mf, "gateway");
    closers.push(async () => heap.close());
    const nudge = async () => void (await (await fetch(new URL("/healthz", url))).arrayBuffer());

    log(`minting ${o.hot} hot and ${o.cold} cold tokens…`);
    const ttlSeconds = 3600;
    const hot = await mintAll(o.hot, (i) => mint({ sub: `user_hot_${i}`, ttlSeconds }));
    const cold = await mintAll(o.cold, (i) => mint({ sub: `user_cold_${i}`, ttlSeconds }));
    const valid = hot[0];
    const [h, p, s] = valid.split(".");
    const invalid = [
      `Bearer ${h}.${p}.${s.slice(0, -4)}${s.slice(-4) === "AAAA" ? "BBBB" : "AAAA"}`, // bad signature, known kid
      `Bearer ${await mint({ sub: "user_expired", now: Math.floor(Date.now() / 1000) - 7200 })}`,
      `Bearer ${await mint({ sub: "user_other", issuer: "https://other-instance.clerk.accounts.dev" })}`,
      "Bearer not.a.token",
      null, // no token at all
    ];

    if (o.warmup) {
      const res = await fetch(new URL(LOAD_ROUTE, url), { method: "POST", headers: { authorization: `Bearer ${valid}`, "content-type": "application/json" }, body: BODY });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`warm-up request answered ${res.status}`);
    }
    const jwksBeforeRun = keyServer.fetches();
    const upstreamBeforeRun = upstreamSeen.total;

    // Which token each request carries, and the status it must get.
    const expected = { 200: 0, 401: 0 };
    const got = {};
    let unexpected = 0;
    const unexpectedSamples = [];
    let seq = 0;
    let coldNext = 0;
    const pick = () => {
      const n = seq++;
      // A fixed, interleaved pattern over 20 slots keeps the shares exact at any run length.
      const slot = n % 20;
      if (slot < Math.round(o.invalidShare * 20)) return { authorization: invalid[n % invalid.length], status: o.baseline ? 200 : 401 };
      if (slot < Math.round((o.invalidShare + o.coldShare) * 20)) return { authorization: `Bearer ${cold[coldNext++ % cold.length]}`, status: 200 };
      return { authorization: `Bearer ${hot[n % hot.length]}`, status: 200 };
    };

    const rss = [];
    const live = [];
    const retained = [];
    const startedAt = Date.now();
    const elapsed = () => (Date.now() - startedAt) / 1000;
    const sample = async () => {
      if (pid) rss.push({ t: elapsed(), kib: await rssKiB(pid) });
      live.push({ t: elapsed(), bytes: await heap.used() });
    };
    retained.push({ t: 0, bytes: await heap.retained(nudge) });
    await sample();
    // Samples are taken at a fixed rate while the load runs: the clock is what is measured here.
    const sampler = setInterval(() => void sample(), 1000);
    // A full GC a third and two thirds in.
    const gcTimers = [1 / 3, 2 / 3].map((f) =>
      setTimeout(() => void heap.retained(nudge).then((bytes) => retained.push({ t: elapsed(), bytes })), f * o.durationS * 1000),
    );

    log(`load: ${o.connections} connections × ${o.durationS} s against ${url.origin}${LOAD_ROUTE}`);
    const result = await autocannon({
      url: url.origin,
      connections: o.connections,
      duration: o.durationS,
      timeout: 10,
      requests: [
        {
          method: "POST",
          path: LOAD_ROUTE,
          setupRequest(req, context) {
            const choice = pick();
            context.expected = choice.status;
            const headers = { "content-type": "application/json" };
            if (choice.authorization) headers.authorization = choice.authorization;
            return { ...req, headers, body: BODY };
          },
          onResponse(status, body, context) {
            got[status] = (got[status] ?? 0) + 1;
            expected[context.expected] = (expected[context.expected] ?? 0) + 1;
            if (status !== context.expected) {
              unexpected++;
              if (unexpectedSamples.length < 5) unexpectedSamples.push({ expected: context.expected, status, body: String(body).slice(0, 200) });
            }
          },
        },
      ],
    });
    clearInterval(sampler);
    for (const t of gcTimers) clearTimeout(t);
    await sample();
    retained.push({ t: elapsed(), bytes: await heap.retained(nudge) });

    const kib = rss.map((r) => r.kib);
    const third = rss.find((r) => r.t >= o.durationS / 3) ?? rss[0];
    const end = rss.at(-1);
    return {
      machine: machine(),
      options: { connections: o.connections, durationS: o.durationS, hot: o.hot, cold: o.cold, coldShare: o.coldShare, invalidShare: o.invalidShare, warmup: o.warmup, baseline: o.baseline },
      route: LOAD_ROUTE,
      requests: result.requests.total,
      rps: Math.round(result.requests.average),
      latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
      errors: result.errors,
      timeouts: result.timeouts,
      statuses: got,
      expected,
      unexpected,
      unexpectedSamples,
      // Responses still in flight when autocannon stopped are neither errors nor answers.
      answered: Object.values(got).reduce((a, b) => a + b, 0),
      upstream: { requests: upstreamSeen.total - upstreamBeforeRun, withoutIdentity: upstreamSeen.withoutIdentity },
      // Error lines workerd printed, by message (its stack lines dropped); client resets show up
      // here when autocannon closes connections with responses still being written.
      workerdErrors: countBy(workerdLog.filter((l) => /error:/.test(l)).map((l) => l.replace(/^.*?error: /, "").replace(/fd\s*=?\s*\d+|\d+/g, "N").slice(0, 160))),
      jwksFetches: { warmup: jwksBeforeRun, run: keyServer.fetches() - jwksBeforeRun },
      workerdRssMiB: pid
        ? {
            start: mib(kib[0]),
            atThird: mib(third.kib),
            end: mib(end.kib),
            max: mib(Math.max(...kib)),
            growthAfterThirdPct: Math.round(((end.kib - third.kib) / third.kib) * 1000) / 10,
            samples: rss.map((r) => [Math.round(r.t), mib(r.kib)]),
          }
        : null,
      // The isolate's JS heap: live bytes sampled each second, and bytes surviving a full GC.
      isolateHeapMiB: {
        retainedAfterGc: retained.map((r) => [Math.round(r.t), mib(r.bytes / 1024)]),
        usedMax: mib(Math.max(...live.map((h) => h.bytes)) / 1024),
        samples: live.map((h) => [Math.round(h.t), mib(h.bytes / 1024)]),
      },
    };
  } finally {
    for (const c of closers.reverse()) await c().catch(() => {});
  }
}

/** A load run is correct when every request got the status it deserved and nothing unauthenticated went upstream. */
export function loadCorrect(s) {
  return s.errors === 0 && s.unexpected === 0 && s.upstream.withoutIdentity === 0;
}

const mib = (kib) => Math.round((kib / 1024) * 10) / 10;

function countBy(items) {
  const out = {};
  for (const item of items) out[item] = (out[item] ?? 0) + 1;
  return out;
}
