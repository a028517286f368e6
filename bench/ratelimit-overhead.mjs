#!/usr/bin/env node
// What the spend guard costs a route it does not limit. Two copies of the Worker, bundled as it is
// deployed (`wrangler deploy --dry-run`) and run in workerd through Miniflare (direct sockets: no
// dev proxy, no entry worker), with the same bindings (KV, the RL_AGENT Rate Limiting binding, the
// SpendCounter Durable Object) and the same vars but one difference:
//   off — RATE_LIMITS and QUOTAS empty: the guard is not even installed;
//   on  — the shipped RATE_LIMITS plus a daily QUOTAS entry: every request is matched against them.
// Both serve an authenticated GET /api/agents/weather (no limit matches it) forwarded to a
// loopback upstream in its own process. autocannon drives them in interleaved rounds (off/on,
// on/off, …) so drift on a shared machine hits both alike; the result is the median of per-cycle
// throughput ratios.
//
//   node bench/ratelimit-overhead.mjs [--rounds 81] [--seconds 2] [--connections 32] [--write]
//
// --write replaces the "Spend guard overhead" section of BENCHMARKS.md (creating the file if absent).
// Only 127.0.0.1 is contacted.

import { execFile, fork } from "node:child_process";
import { createPublicKey } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { cpus, loadavg, machine as machineArch, release, tmpdir, type, version } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify, parseArgs } from "node:util";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const OFFLINE_ENV = { WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true" };
const ROUTE = "/api/agents/weather";
const MARK_START = "<!-- bench:ratelimit-overhead:start -->";
const MARK_END = "<!-- bench:ratelimit-overhead:end -->";
/** The budget: the guarded gateway keeps at least this share of the unguarded one's throughput. */
const BUDGET = 0.95;
const CLOCK_TICKS = 100; // USER_HZ on Linux: /proc/<pid>/stat counts CPU time in 1/100 s

if (process.argv[2] === "--upstream") {
  // The upstream, in its own process so that it does not share an event loop with autocannon.
  const body = Buffer.from('{"ok":true}');
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json", "content-length": body.length });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, "127.0.0.1", () => process.send({ port: server.address().port }));
  process.on("disconnect", () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
} else {
  await main();
}

async function main() {
  const { values } = parseArgs({
    options: {
      rounds: { type: "string", default: "81" },
      seconds: { type: "string", default: "2" },
      connections: { type: "string", default: "32" },
      write: { type: "boolean", default: false },
    },
  });
  const rounds = Number(values.rounds);
  const seconds = Number(values.seconds);
  const connections = Number(values.connections);

  const { Miniflare } = await import("miniflare");
  const { unstable_getMiniflareWorkerOptions } = await import("wrangler");
  const { default: autocannon } = await import("autocannon");
  const { generateSigningKey, mintClerkToken } = await import("../scripts/lib/clerk-token.mjs");

  const cleanup = [];
  try {
    const bundleDir = await mkdtemp(join(tmpdir(), "mea-bench-rl-"));
    cleanup.push(() => rm(bundleDir, { recursive: true, force: true }));
    await promisify(execFile)(join(ROOT, "node_modules", ".bin", "wrangler"), ["deploy", "--dry-run", "--outdir", bundleDir], {
      cwd: ROOT,
      env: { ...process.env, ...OFFLINE_ENV },
      timeout: 120_000,
    });
    const scriptPath = join(bundleDir, (await readdir(bundleDir)).find((f) => f.endsWith(".js")));

    const upstream = fork(fileURLToPath(import.meta.url), ["--upstream"], { stdio: ["ignore", "ignore", "inherit", "ipc"] });
    cleanup.push(async () => {
      if (upstream.exitCode === null) {
        const exited = once(upstream, "exit");
        upstream.disconnect();
        await exited;
      }
    });
    const [{ port: upstreamPort }] = await once(upstream, "message");

    const issuer = "http://127.0.0.1:1";
    const key = await generateSigningKey({ kid: "ins_benchRateLimitOverhead" });
    const pem = createPublicKey({ key: key.publicJwk, format: "jwk" }).export({ type: "spki", format: "pem" });
    const token = await mintClerkToken(key, { issuer, sub: "user_bench", org: { id: "org_bench", role: "member" }, ttlSeconds: 3600 });

    // Networkless verification (CLERK_JWT_KEY), so both copies do the same work per request and
    // none of it is key traffic.
    const { workerOptions } = unstable_getMiniflareWorkerOptions(join(ROOT, "wrangler.toml"));
    const shipped = workerOptions.bindings ?? {};
    const common = { ...shipped, CLERK_JWT_KEY: pem, CLERK_ISSUER: issuer, MASTRA_URL: `http://127.0.0.1:${upstreamPort}`, LOG_LEVEL: "error" };
    const quota = JSON.stringify([{ id: "daily", key: "user", limit: 100000, methods: ["POST"], path: ["/api/agents/*/generate*", "/api/agents/*/stream*"] }]);
    const configs = {
      off: { ...common, RATE_LIMITS: "", QUOTAS: "" },
      on: { ...common, RATE_LIMITS: shipped.RATE_LIMITS, QUOTAS: quota },
    };
    if (!configs.on.RATE_LIMITS) throw new Error("wrangler.toml ships no RATE_LIMITS: nothing to measure");

    // One workerd process serving both Workers, each on its own socket: the two differ in their
    // vars only, not in which process or thread serves them.
    const mf = new Miniflare({
      workers: Object.entries(configs).map(([name, bindings]) => ({
        ...workerOptions,
        name,
        modules: true,
        modulesRoot: bundleDir,
        scriptPath,
        bindings,
        unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
      })),
    });
    cleanup.push(() => mf.dispose());
    await mf.ready;
    const urls = {};
    for (const name of Object.keys(configs)) {
      urls[name] = (await mf.unsafeGetDirectURL(name)).href.replace(/\/$/, "");
      // Both must answer the route the same way, and only "on" may put the guard on a limited one.
      const probe = await fetch(`${urls[name]}${ROUTE}`, { headers: { authorization: `Bearer ${token}` } });
      if (probe.status !== 200) throw new Error(`${name}: ${ROUTE} answered ${probe.status} ${await probe.text()}`);
      if (probe.headers.has("ratelimit-policy")) throw new Error(`${name}: ${ROUTE} is limited; pick a route no limit matches`);
      await probe.arrayBuffer();
      const limited = await fetch(`${urls[name]}/api/agents/weather/generate`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: "{}" });
      await limited.arrayBuffer();
      if (limited.headers.has("ratelimit-policy") !== (name === "on")) throw new Error(`${name}: the guard is ${name === "on" ? "not " : ""}installed`);
    }

    // workerd's own CPU time per request: far less sensitive to other load on the machine than
    // throughput, and it is the resource the guard would spend.
    const workerd = await workerdPid();
    const measure = async (name, duration) => {
      const cpuBefore = workerd ? await cpuTicks(workerd) : 0;
      const result = await autocannon({ url: `${urls[name]}${ROUTE}`, connections, duration, headers: { authorization: `Bearer ${token}` } });
      const cpu = workerd ? (await cpuTicks(workerd)) - cpuBefore : NaN;
      if (result.errors || result.non2xx) throw new Error(`${name}: ${result.errors} errors, ${result.non2xx} non-2xx answers`);
      return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, cpuUs: (cpu * (1e6 / CLOCK_TICKS)) / result.requests.total };
    };

    for (const name of Object.keys(urls)) await measure(name, 2); // JIT and connection warm-up
    const samples = { off: [], on: [] };
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 ? ["on", "off"] : ["off", "on"];
      for (const name of order) samples[name].push(await measure(name, seconds));
      process.stderr.write(`round ${round + 1}/${rounds}: off ${samples.off.at(-1).rps.toFixed(0)} req/s, on ${samples.on.at(-1).rps.toFixed(0)} req/s\n`);
    }

    const ratios = samples.on.map((s, i) => s.rps / samples.off[i].rps);
    const of = (list, field) => median(list.map((s) => s[field]));
    const offRps = samples.off.map((s) => s.rps);
    const summary = {
      off: { rps: of(samples.off, "rps"), p50: of(samples.off, "p50"), p99: of(samples.off, "p99"), cpuUs: of(samples.off, "cpuUs") },
      on: { rps: of(samples.on, "rps"), p50: of(samples.on, "p50"), p99: of(samples.on, "p99"), cpuUs: of(samples.on, "cpuUs") },
      ratio: median(ratios),
      ratioCi: medianInterval(ratios),
      cpuRatio: median(samples.on.map((s, i) => s.cpuUs / samples.off[i].cpuUs)),
      // How much the machine moved under the measurement: the spread of the baseline's rounds.
      noise: (Math.max(...offRps) - Math.min(...offRps)) / median(offRps),
      load: loadavg()[0],
    };
    const section = render({ summary, rounds, seconds, connections });
    process.stdout.write(`${section}\n`);
    if (values.write) await writeSection(section);
    const [low, high] = summary.ratioCi;
    if (high < BUDGET) process.exitCode = 2;
    else if (low < BUDGET) process.exitCode = 3;
  } finally {
    for (const step of cleanup.reverse()) await step().catch(() => {});
  }
}

/** The workerd process Miniflare started for us (Linux /proc), or null elsewhere. */
async function workerdPid() {
  try {
    for (const entry of await readdir("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
      const match = /^\d+ \((.*)\) \S (\d+)/.exec(stat);
      if (match && match[1] === "workerd" && Number(match[2]) === process.pid) return Number(entry);
    }
  } catch {}
  return null;
}

/** User + system CPU time of a process so far, in clock ticks. */
async function cpuTicks(pid) {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** Distribution-free ~95% confidence interval of the median (order statistics; needs n ≥ 6). */
function medianInterval(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  const k = Math.max(0, Math.floor((n - 1.96 * Math.sqrt(n)) / 2));
  return [sorted[k], sorted[n - 1 - k]];
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function render({ summary, rounds, seconds, connections }) {
  const { off, on, ratio, ratioCi, cpuRatio, noise, load } = summary;
  // What `uname -srvm` prints, then the CPUs and Node.
  const machine = `${type()} ${release()} ${version()} ${machineArch()}; ${cpus().length} × ${cpus()[0]?.model?.trim() ?? "unknown CPU"}; Node ${process.version}`;
  const pct = (x) => `${(x * 100).toFixed(1)}%`;
  return [
    MARK_START,
    "## Spend guard overhead on a route it does not limit",
    "",
    "`node bench/ratelimit-overhead.mjs --write`: the deployable bundle in workerd (Miniflare, direct",
    "sockets), authenticated `GET /api/agents/weather` forwarded to a loopback upstream, with and",
    "without RATE_LIMITS (the shipped entry) + QUOTAS (one daily entry); same bindings otherwise.",
    `autocannon, ${connections} connections, ${rounds} interleaved rounds of ${seconds} s per side; medians.`,
    "",
    "| gateway | req/s | p50 ms | p99 ms | workerd CPU µs/request | throughput vs. off | CPU vs. off |",
    "|---|---:|---:|---:|---:|---:|---:|",
    `| guard off (no RATE_LIMITS, no QUOTAS) | ${off.rps.toFixed(0)} | ${off.p50} | ${off.p99} | ${off.cpuUs.toFixed(0)} | 100% | 100% |`,
    `| guard on, route not limited | ${on.rps.toFixed(0)} | ${on.p50} | ${on.p99} | ${on.cpuUs.toFixed(0)} | ${pct(ratio)} (95% CI ${pct(ratioCi[0])}–${pct(ratioCi[1])}) | ${pct(cpuRatio)} |`,
    "",
    `Budget: throughput ≥ ${pct(BUDGET)} of off. ${ratioCi[0] >= BUDGET ? "Met" : ratioCi[1] < BUDGET ? "NOT met" : `Inconclusive: the interval straddles ${pct(BUDGET)}; the machine was too noisy to resolve it`} (the median of per-cycle ratios, with its distribution-free 95% interval).`,
    `Baseline spread across rounds ${pct(noise)} (a shared machine); 1-min load average at the end ${load.toFixed(2)}.`,
    `Measured ${new Date().toISOString().replace(/\.\d+Z$/, "Z")} on ${machine}.`,
    MARK_END,
  ].join("\n");
}

async function writeSection(section) {
  const file = join(ROOT, "BENCHMARKS.md");
  let text = await readFile(file, "utf8").catch(() => "# Benchmarks\n");
  const start = text.indexOf(MARK_START);
  const end = text.indexOf(MARK_END);
  if (start !== -1 && end > start) text = `${text.slice(0, start)}${section}${text.slice(end + MARK_END.length)}`;
  else text = `${text.replace(/\n*$/, "\n\n")}${section}\n`;
  await writeFile(file, text);
  process.stderr.write(`wrote ${file}\n`);
}
