#!/usr/bin/env node
// A bounded load run against the gateway Worker in workerd, everything on 127.0.0.1:
//
//   dev issuer (throwaway key) ── JWKS, counted ──┐
//   autocannon ──► gateway (wrangler bundle, workerd via Miniflare, direct socket) ──► node:http upstream
//
// The mix: valid tokens from a small hot set (verified-token cache hits), valid tokens from a large
// cold pool bigger than the verified-token cache (full verifications and cache eviction), and
// invalid tokens (bad signature, expired, wrong issuer, garbage, none) that must be 401. Every
// response is checked against what its request deserved. Measured: errors, unexpected statuses,
// origin JWKS fetches (counted at the JWKS server), upstream requests, and the RSS of the workerd
// process sampled once a second.
//
//   npm run load                                  # 200 connections × 30 s
//   node bench/load.mjs --connections 20 --duration 3 --cold 500
//   node bench/load.mjs --no-warmup               # the isolate meets the burst cold
//   node bench/load.mjs --json                    # machine-readable result on stdout
//
// `runLoad(options)` is the same run as a function (test/node/load-smoke.test.ts uses it).

import { execFile } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { createServer } from "node:http";
import { createInterface } from "node:readline";
import { cpus, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs, promisify } from "node:util";
import autocannon from "autocannon";
import { Miniflare } from "miniflare";
import { startDevIssuer } from "../scripts/dev-issuer.mjs";

const ROOT = resolve(fileURLToPath(import.meta.url), "../..");
const OFFLINE = { WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true" };
const ROUTE = "/api/agents/weatherAgent/generate";
const BODY = JSON.stringify({ messages: "Weather in London?" });

export const DEFAULTS = {
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

const run = promisify(execFile);

async function bundleGateway() {
  const dir = await mkdtemp(join(tmpdir(), "mea-load-bundle-"));
  await run("npx", ["wrangler", "deploy", "--dry-run", "--outdir", dir], { cwd: ROOT, env: { ...process.env, ...OFFLINE }, timeout: 180_000 });
  const script = (await readdir(dir)).find((f) => f.endsWith(".js"));
  if (!script) throw new Error(`wrangler produced no bundle in ${dir}`);
  return { dir, scriptPath: join(dir, script) };
}

async function listen(server) {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return server.address().port;
}

function closeServer(server) {
  server.closeAllConnections();
  return new Promise((r) => server.close(() => r()));
}

/** The workerd process Miniflare spawned: our own child, found by its parent pid. */
async function workerdPid() {
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const ppid = Number(stat.slice(close + 2).split(" ")[1]);
      if (ppid === process.pid && comm.startsWith("workerd")) return Number(entry);
    } catch {
      // The process went away while we looked.
    }
  }
  return null;
}

async function rssKiB(pid) {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
}

/**
 * The gateway isolate's V8 heap through workerd's inspector (needs a global WebSocket: Node 22+,
 * or Node 20 with --experimental-websocket; otherwise null). workerd handles inspector messages
 * when the isolate runs, so a forced GC completes with the next request (`nudge`).
 */
async function connectInspector(mf, workerName) {
  if (typeof WebSocket !== "function") return null;
  const inspector = await mf.getInspectorURL();
  const list = await (await fetch(new URL("/json/list", inspector.href.replace(/^ws:/, "http:")))).json();
  const target = list.find((t) => t.id === `core:user:${workerName}`);
  if (!target) return null;
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.addEventListener("open", resolve, { once: true });
    ws.addEventListener("error", reject, { once: true });
  });
  let id = 0;
  const pending = new Map();
  ws.addEventListener("message", (event) => {
    const message = JSON.parse(String(event.data));
    pending.get(message.id)?.(message.result);
    pending.delete(message.id);
  });
  const call = (method, params = {}) =>
    new Promise((resolve) => {
      pending.set(++id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await call("HeapProfiler.enable");
  return {
    /** Bytes of live JS heap right now (garbage included). */
    used: async () => (await call("Runtime.getHeapUsage")).usedSize,
    /** Bytes of JS heap that survive a full GC: what the isolate really holds on to. */
    retained: async (nudge) => {
      let done = false;
      const collected = call("HeapProfiler.collectGarbage").then(() => (done = true));
      // The message may reach workerd after a given request was handled: nudge until it is done.
      while (!done) await nudge();
      await collected;
      return (await call("Runtime.getHeapUsage")).usedSize;
    },
    close: () => ws.close(),
  };
}

async function mintAll(count, mint) {
  const out = [];
  for (let i = 0; i < count; i += 256) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(256, count - i) }, (_, j) => mint(i + j)))));
  }
  return out;
}

/**
 * @param {Partial<typeof DEFAULTS> & { log?: (line: string) => void }} [options]
 */
export async function runLoad(options = {}) {
  const o = { ...DEFAULTS, ...options };
  const log = options.log ?? (() => {});
  const closers = [];
  const cleanup = async () => {
    for (const c of closers.reverse()) await c().catch(() => {});
  };
  try {
    const keyDir = await mkdtemp(join(tmpdir(), "mea-load-key-"));
    closers.push(() => rm(keyDir, { recursive: true, force: true }));
    const issuer = await startDevIssuer({ port: 0, keyFile: join(keyDir, "key.json") });
    closers.push(() => issuer.close());

    // The JWKS the gateway uses, served here so that every origin fetch is counted.
    const jwksFetches = [];
    const jwksServer = createServer((req, res) => {
      jwksFetches.push(Date.now());
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [issuer.key.publicJwk] }));
    });
    const jwksPort = await listen(jwksServer);
    closers.push(() => closeServer(jwksServer));

    const upstreamSeen = { total: 0, withoutIdentity: 0 };
    const upstream = createServer((req, res) => {
      upstreamSeen.total++;
      if (!o.baseline && !req.headers["x-clerk-user-id"]) upstreamSeen.withoutIdentity++;
      req.resume();
      req.on("end", () => res.writeHead(200, { "content-type": "application/json" }).end('{"text":"The weather in London is sunny."}'));
    });
    const upstreamPort = await listen(upstream);
    closers.push(() => closeServer(upstream));

    log(o.baseline ? "baseline: a bare pass-through Worker" : "bundling the gateway (wrangler deploy --dry-run)…");
    const bundle = o.baseline ? null : await bundleGateway();
    if (bundle) closers.push(() => rm(bundle.dir, { recursive: true, force: true }));
    const code = bundle ? { scriptPath: bundle.scriptPath, modulesRoot: bundle.dir } : { script: PASS_THROUGH };
    // workerd's own diagnostics, kept for the summary instead of interleaving with it.
    const workerdLog = [];
    const mf = new Miniflare({
      host: "127.0.0.1",
      port: 0,
      handleRuntimeStdio: (stdout, stderr) => {
        for (const stream of [stdout, stderr]) createInterface({ input: stream }).on("line", (line) => workerdLog.push(line));
      },
      inspectorPort: typeof WebSocket === "function" ? 0 : undefined,
      workers: [
        {
          name: "gateway",
          modules: true,
          ...code,
          compatibilityDate: "2026-05-01",
          compatibilityFlags: ["enable_request_signal"],
          kvNamespaces: ["JWKS_CACHE"],
          // Straight onto workerd's socket: no Miniflare entry worker in front of the gateway.
          unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
          bindings: {
            CLERK_ISSUER: issuer.issuer,
            CLERK_JWKS_URI: `http://127.0.0.1:${jwksPort}/.well-known/jwks.json`,
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
    const inspector = await connectInspector(mf, "gateway");
    if (inspector) closers.push(async () => inspector.close());
    const nudge = async () => void (await (await fetch(new URL("/healthz", url))).arrayBuffer());

    log(`minting ${o.hot} hot and ${o.cold} cold tokens…`);
    const ttlSeconds = 3600;
    const hot = await mintAll(o.hot, (i) => issuer.mint({ sub: `user_hot_${i}`, ttlSeconds }));
    const cold = await mintAll(o.cold, (i) => issuer.mint({ sub: `user_cold_${i}`, ttlSeconds }));
    const valid = hot[0];
    const [h, p, s] = valid.split(".");
    const invalid = [
      `Bearer ${h}.${p}.${s.slice(0, -4)}${s.slice(-4) === "AAAA" ? "BBBB" : "AAAA"}`, // bad signature, known kid
      `Bearer ${await issuer.mint({ sub: "user_expired", now: Math.floor(Date.now() / 1000) - 7200 })}`,
      `Bearer ${await issuer.mint({ sub: "user_other", issuer: "https://other-instance.clerk.accounts.dev" })}`,
      "Bearer not.a.token",
      null, // no token at all
    ];

    if (o.warmup) {
      const res = await fetch(new URL(ROUTE, url), { method: "POST", headers: { authorization: `Bearer ${valid}`, "content-type": "application/json" }, body: BODY });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`warm-up request answered ${res.status}`);
    }
    const jwksBeforeRun = jwksFetches.length;
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
    const heap = [];
    const retained = [];
    const startedAt = Date.now();
    const elapsed = () => (Date.now() - startedAt) / 1000;
    const sample = async () => {
      if (pid) rss.push({ t: elapsed(), kib: await rssKiB(pid) });
      if (inspector) heap.push({ t: elapsed(), bytes: await inspector.used() });
    };
    if (inspector) retained.push({ t: 0, bytes: await inspector.retained(nudge) });
    await sample();
    const sampler = setInterval(() => void sample(), 1000);
    // A full GC a third and two thirds in.
    const gcTimers = [1 / 3, 2 / 3].map((f) =>
      setTimeout(() => void inspector?.retained(nudge).then((bytes) => retained.push({ t: elapsed(), bytes })), f * o.durationS * 1000),
    );

    log(`load: ${o.connections} connections × ${o.durationS} s against ${url.origin}${ROUTE}`);
    const result = await autocannon({
      url: url.origin,
      connections: o.connections,
      duration: o.durationS,
      timeout: 10,
      requests: [
        {
          method: "POST",
          path: ROUTE,
          setupRequest(req, context) {
            const choice = pick();
            context.expected = choice.status;
            const headers = { "content-type": "application/json" };
            if (choice.authorization) headers.authorization = choice.authorization;
            return { ...req, headers, body: BODY };
          },
          onResponse(status, _body, context) {
            got[status] = (got[status] ?? 0) + 1;
            expected[context.expected] = (expected[context.expected] ?? 0) + 1;
            if (status !== context.expected) {
              unexpected++;
              if (unexpectedSamples.length < 5) unexpectedSamples.push({ expected: context.expected, status, body: String(_body).slice(0, 200) });
            }
          },
        },
      ],
    });
    clearInterval(sampler);
    for (const t of gcTimers) clearTimeout(t);
    await sample();
    if (inspector) retained.push({ t: elapsed(), bytes: await inspector.retained(nudge) });

    const kib = rss.map((r) => r.kib);
    const third = rss.find((r) => r.t >= o.durationS / 3) ?? rss[0];
    const end = rss.at(-1);
    const summary = {
      date: new Date().toISOString(),
      machine: `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}`,
      options: { connections: o.connections, durationS: o.durationS, hot: o.hot, cold: o.cold, coldShare: o.coldShare, invalidShare: o.invalidShare, warmup: o.warmup, baseline: o.baseline },
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
      jwksFetches: { warmup: jwksBeforeRun, run: jwksFetches.length - jwksBeforeRun },
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
      isolateHeapMiB: inspector
        ? {
            retainedAfterGc: retained.map((r) => [Math.round(r.t), mib(r.bytes / 1024)]),
            usedMax: mib(Math.max(...heap.map((h) => h.bytes)) / 1024),
            samples: heap.map((h) => [Math.round(h.t), mib(h.bytes / 1024)]),
          }
        : null,
    };
    return summary;
  } finally {
    await cleanup();
  }
}

const mib = (kib) => Math.round((kib / 1024) * 10) / 10;

function countBy(items) {
  const out = {};
  for (const item of items) out[item] = (out[item] ?? 0) + 1;
  return out;
}

function printSummary(s) {
  const rss = s.workerdRssMiB;
  const lines = [
    `date       ${s.date}`,
    `machine    ${s.machine}`,
    `load       ${s.options.baseline ? "BASELINE (bare pass-through Worker, no auth) " : ""}${s.options.connections} connections × ${s.options.durationS} s; ${Math.round((1 - s.options.coldShare - s.options.invalidShare) * 100)}% hot valid (${s.options.hot} tokens), ${Math.round(s.options.coldShare * 100)}% cold valid (${s.options.cold} tokens, cycled), ${Math.round(s.options.invalidShare * 100)}% invalid; warm-up ${s.options.warmup ? "yes" : "no"}`,
    `requests   ${s.requests} (${s.rps}/s), latency p50 ${s.latencyMs.p50} ms, p99 ${s.latencyMs.p99} ms, max ${s.latencyMs.max} ms`,
    `errors     ${s.errors} (timeouts ${s.timeouts})`,
    `statuses   ${JSON.stringify(s.statuses)}; expected ${JSON.stringify(s.expected)}; unexpected ${s.unexpected}`,
    `upstream   ${s.upstream.requests} requests (${s.upstream.withoutIdentity} without identity)`,
    `JWKS       ${s.jwksFetches.warmup} origin fetch(es) in the warm-up, ${s.jwksFetches.run} during the run`,
    `workerd    error lines: ${Object.keys(s.workerdErrors).length ? Object.entries(s.workerdErrors).map(([m, n]) => `${n} × ${m}`).join("; ") : "none"}`,
    rss
      ? `workerd    RSS ${rss.start} MiB at start, ${rss.atThird} MiB at 1/3, ${rss.end} MiB at the end, max ${rss.max} MiB (${rss.growthAfterThirdPct >= 0 ? "+" : ""}${rss.growthAfterThirdPct}% after 1/3)`
      : "workerd    RSS not available (no /proc or workerd process not found)",
  ];
  const h = s.isolateHeapMiB;
  lines.push(
    h
      ? `isolate    JS heap after a full GC ${h.retainedAfterGc.map(([t, m]) => `${m} MiB (t=${t}s)`).join(", ")}; live max ${h.usedMax} MiB`
      : "isolate    JS heap not measured (needs a global WebSocket: node --experimental-websocket on Node 20)",
  );
  for (const line of lines) console.log(line);
  if (s.unexpectedSamples.length) console.log("unexpected samples", JSON.stringify(s.unexpectedSamples));
  if (rss) console.log(`RSS samples (s, MiB) ${rss.samples.map(([t, m]) => `${t}:${m}`).join(" ")}`);
  if (h) console.log(`heap samples (s, MiB) ${h.samples.map(([t, m]) => `${t}:${m}`).join(" ")}`);
}

const isMain = process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const { values } = parseArgs({
    options: {
      connections: { type: "string" },
      duration: { type: "string" },
      hot: { type: "string" },
      cold: { type: "string" },
      "cold-share": { type: "string" },
      "invalid-share": { type: "string" },
      "no-warmup": { type: "boolean", default: false },
      baseline: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    },
  });
  const num = (v, d) => (v === undefined ? d : Number(v));
  const summary = await runLoad({
    connections: num(values.connections, DEFAULTS.connections),
    durationS: num(values.duration, DEFAULTS.durationS),
    hot: num(values.hot, DEFAULTS.hot),
    cold: num(values.cold, DEFAULTS.cold),
    coldShare: num(values["cold-share"], DEFAULTS.coldShare),
    invalidShare: num(values["invalid-share"], DEFAULTS.invalidShare),
    warmup: !values["no-warmup"],
    baseline: values.baseline,
    log: (line) => console.error(line),
  });
  if (values.json) console.log(JSON.stringify(summary, null, 2));
  else printSummary(summary);
  const ok = summary.errors === 0 && summary.unexpected === 0 && summary.upstream.withoutIdentity === 0;
  process.exit(ok ? 0 : 1);
}
